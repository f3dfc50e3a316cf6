"""Built-in plugins, each loaded through the ``tray_agent`` entry-point group like any other."""
