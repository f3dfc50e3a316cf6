"""The Bot API's file limits, which the channel's rules (plugin.py) and the adapter both
follow. Kept apart so neither module imports the other."""

#: sendDocument takes uploads up to 50 MB; bigger files go as the agent's download link.
UPLOAD_LIMIT = 50 * 1000 * 1000
#: Files a bot may download through getFile.
DOWNLOAD_LIMIT = 20 * 1024 * 1024
