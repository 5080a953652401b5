"""The contract suites of ``tests/contract/`` once more, on LocalStack instead of moto: their
``aws`` cases only (this folder's conftest deselects ``postgres`` and ``memory``). Their
``aws_env`` fixture is this folder's (boto3 pointed at LocalStack, the contract stack created
anew per test), their other fixtures are the contract suite's own.

The star imports collect the suites' tests and module fixtures here, unchanged.
"""

from tests.contract.test_aws_error_translation import *  # noqa: F401,F403
from tests.contract.test_blob_contract import *  # noqa: F401,F403
from tests.contract.test_breaker_store import *  # noqa: F401,F403
from tests.contract.test_dedup_contract import *  # noqa: F401,F403
from tests.contract.test_queue_contract import *  # noqa: F401,F403
from tests.contract.test_state_contract import *  # noqa: F401,F403
