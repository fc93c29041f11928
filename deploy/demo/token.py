"""Mint a demo bearer token for the compose stack (HS256, the secret of docker-compose.yml).

    python deploy/demo/token.py alice [SECRET]
"""

from __future__ import annotations

import sys
import time

import jwt

subject = sys.argv[1] if len(sys.argv) > 1 else "alice"
secret = sys.argv[2] if len(sys.argv) > 2 else "change-me-demo-secret"
now = int(time.time())
print(jwt.encode({"sub": subject, "iat": now, "exp": now + 3600}, secret, algorithm="HS256"))
