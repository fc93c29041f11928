"""The console: a browser UI for policy authors and auditors at ``/console``, served by the
same app (see the README's "Console" section).

==============  =================================================================
``access``      who may use it (admin key, loopback host, same-origin posts)
``render``      the Jinja environment, explanations as flat tree rows, headers
``app``         the mount, the page and JSON endpoint wrappers, form reading
``policies``    the policy browser: revision, files, rules, reload error, history
==============  =================================================================
"""

from .app import console_routes

__all__ = ["console_routes"]
