"""The reviewed ceremony file and the separate locator/secrets file."""
