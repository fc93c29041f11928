"""The console: a browser UI for policy authors and auditors at ``/console``, served by the
same app (see the README's "Console" section).

==============  =================================================================
``access``      who may use it (admin key, loopback host, same-origin posts)
``render``      the Jinja environment, explanations as flat tree rows, headers
``app``         the mount, the page and JSON endpoint wrappers, form reading
``sources``     edited policy text: form fields → an in-memory policy set
``events``      logged decisions as shown: printable values, links, time ranges
``policies``    the policy browser: revision, files, rules, reload error, history
``playground``  edit, decide, test and check policy text in memory
``findings``    ``siamese check`` findings and build errors at their lines
``testrun``     the edited text's tests, bounded in count and time
``decisions``   the decision log browser: search, paging, one decision
``impact``      ``siamese replay`` against edited text or an archived revision
``feed``        the answered decisions the live view follows (a server listener)
``live``        the live view and its JSON poll
==============  =================================================================
"""

from .app import console_routes

__all__ = ["console_routes"]
