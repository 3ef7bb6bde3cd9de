"""The browser app's own server: the built single-page app (ui/dist) and development sign-in."""
