"""GitHub's REST API for the reconciler: ``client`` (hook delivery logs and redelivery, over
gidgethub's sans-I/O layer and urllib3, with GitHub's rate limits) and ``auth`` (a token or a
GitHub App's JWT and installation tokens, from the environment, SSM or Secrets Manager).

May import: gidgethub, PyJWT, urllib3, Powertools Parameters, ``chalicelib.errors``."""
