"""Telegram front of clean-or-messy: send a room photo, get "clean" or "messy" back.

Three ways to run it, one set of handlers (``bot.handlers``):

- ``python -m bot --mode polling`` for local use;
- ``python -m bot --mode webhook --listen 127.0.0.1 --port 8443 --url https://host/path`` behind a proxy;
- ``bot.serverless.handle(headers, body)`` as a cloud function, one update per invocation.

All model work goes through the core package ``cleanmessy``; see bot/README.md.
"""
