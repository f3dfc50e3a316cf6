"""The inbox engine: store, channel rules, events and the one service layer."""
