"""The whole system on one machine (operator and test tooling, never shipped to Lambda).

* ``embedded``     -- stand-ins started as child processes: moto server (AWS), pgserver
  (PostgreSQL 16), no Docker and no AWS account;
* ``edge_server``  -- a local API Gateway with reserved concurrency in front of N isolated
  copies of the Chalice app;
* ``event_source`` -- SQS event source mappings invoking the worker handlers as Lambda does;
* ``lambda_env``   -- the environment variables the Lambda functions get (stack and tests);
* ``stack``        -- :class:`LocalStack`: all of the above started and wired together;
* ``lifecycle``    -- its files in the workdir (env file with the owner's pid, children record)
  and reaping what a killed stack left behind;
* ``drain``        -- waiting until the work queues are empty (demo, loadtest).

May import ``chalicelib`` (the code it runs), ``spillway.paths``, ``spillway.migrate`` and
``spillway.deploy`` (one way to provision the infra stack); never ``spillway.commands``.

The Lambda runtime is written here (not taken from a library) because it is part of what
Spillway exists for: Chalice's own ``chalice local`` serves routes from one shared app object
(its ``current_request`` is a single attribute, so concurrent requests would read each other's
bodies) and runs no SQS event sources at all.
"""
