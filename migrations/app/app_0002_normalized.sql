-- Normalized tables for contributor analytics. Keys are GitHub ids (bigint). No foreign keys:
-- deliveries arrive out of order and partially, so a comment may be stored before its issue.
-- Every versioned row keeps GitHub's updated_at (NULL when the object has none), the delivery
-- that last wrote it and when that delivery was received (last_seen_at); upserts only move a
-- row forward on (coalesce(updated_at, '-infinity'), last_seen_at).
-- depends: app_0001_ledger

CREATE TABLE repositories (
    id                 bigint PRIMARY KEY,
    node_id            text,
    name               text,
    full_name          text,
    owner_id           bigint,
    private            boolean,
    fork               boolean,
    archived           boolean,
    default_branch     text,
    language           text,
    stargazers_count   integer,
    forks_count        integer,
    open_issues_count  integer,
    created_at         timestamptz,
    pushed_at          timestamptz,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL
);
CREATE INDEX repositories_full_name_idx ON repositories (full_name);

CREATE TABLE users (
    id                 bigint PRIMARY KEY,
    login              text,
    node_id            text,
    type               text,        -- User | Organization | Bot | Mannequin
    site_admin         boolean,
    name               text,
    email              text,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL
);
CREATE INDEX users_login_idx ON users (login);

CREATE TABLE pull_requests (
    id                 bigint PRIMARY KEY,
    repository_id      bigint,
    number             integer,
    node_id            text,
    title              text,
    state              text,
    draft              boolean,
    locked             boolean,
    merged             boolean,
    user_id            bigint,
    merged_by_id       bigint,
    head_ref           text,
    head_sha           text,
    base_ref           text,
    labels             text[],
    commits            integer,
    additions          integer,
    deletions          integer,
    changed_files      integer,
    comments           integer,
    review_comments    integer,
    author_association text,
    last_action        text,
    created_at         timestamptz,
    closed_at          timestamptz,
    merged_at          timestamptz,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL
);
CREATE INDEX pull_requests_repo_number_idx ON pull_requests (repository_id, number);
CREATE INDEX pull_requests_user_idx ON pull_requests (user_id);

CREATE TABLE issues (
    id                 bigint PRIMARY KEY,
    repository_id      bigint,
    number             integer,
    node_id            text,
    title              text,
    state              text,
    state_reason       text,
    locked             boolean,
    is_pull_request    boolean,
    deleted            boolean NOT NULL DEFAULT false,
    user_id            bigint,
    labels             text[],
    comments           integer,
    author_association text,
    last_action        text,
    created_at         timestamptz,
    closed_at          timestamptz,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL
);
CREATE INDEX issues_repo_number_idx ON issues (repository_id, number);
CREATE INDEX issues_user_idx ON issues (user_id);

CREATE TABLE reviews (
    id                 bigint PRIMARY KEY,
    pull_request_id    bigint,
    repository_id      bigint,
    user_id            bigint,
    state              text,
    body               text,
    commit_id          text,
    author_association text,
    last_action        text,
    submitted_at       timestamptz,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL
);
CREATE INDEX reviews_pull_request_idx ON reviews (pull_request_id);
CREATE INDEX reviews_user_idx ON reviews (user_id);

-- kind: issue | pull_request_review | commit | discussion. GitHub ids are unique per kind only.
CREATE TABLE comments (
    kind               text   NOT NULL,
    id                 bigint NOT NULL,
    repository_id      bigint,
    user_id            bigint,
    issue_id           bigint,    -- issue comments (the issue may be a pull request)
    pull_request_id    bigint,    -- pull request review comments
    review_id          bigint,    -- pull request review comments
    discussion_id      bigint,    -- discussion comments
    parent_id          bigint,    -- discussion replies, review comment replies (in_reply_to_id)
    commit_id          text,
    path               text,
    body               text,
    author_association text,
    deleted            boolean NOT NULL DEFAULT false,
    last_action        text,
    created_at         timestamptz,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX comments_user_idx ON comments (user_id);
CREATE INDEX comments_repo_created_idx ON comments (repository_id, created_at);

-- One row per push (immutable: inserted once).
CREATE TABLE pushes (
    repository_id      bigint NOT NULL,
    ref                text   NOT NULL,
    before_sha         text   NOT NULL,
    after_sha          text   NOT NULL,
    pusher_name        text,
    pusher_email       text,
    sender_id          bigint,
    commit_count       integer NOT NULL,   -- commits listed in the payload (GitHub lists <= 2048)
    distinct_count     integer NOT NULL,
    created            boolean,
    deleted            boolean,
    forced             boolean,
    head_commit_at     timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    PRIMARY KEY (repository_id, ref, before_sha, after_sha)
);
CREATE INDEX pushes_sender_idx ON pushes (sender_id);

-- One row per commit seen in a push (immutable: the first push that lists it wins).
CREATE TABLE commits (
    repository_id      bigint NOT NULL,
    sha                text   NOT NULL,
    ref                text,
    message            text,
    author_name        text,
    author_email       text,
    author_username    text,
    committer_name     text,
    committer_email    text,
    committer_username text,
    committed_at       timestamptz,
    is_distinct        boolean,
    files_added        integer,
    files_removed      integer,
    files_modified     integer,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    PRIMARY KEY (repository_id, sha)
);
CREATE INDEX commits_author_idx ON commits (author_email);
CREATE INDEX commits_author_username_idx ON commits (author_username);

-- Who stars what (star event). starred = false after an unstar.
CREATE TABLE stars (
    repository_id      bigint NOT NULL,
    user_id            bigint NOT NULL,
    starred            boolean NOT NULL,
    starred_at         timestamptz,
    updated_at         timestamptz,
    last_delivery_id   text NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    PRIMARY KEY (repository_id, user_id)
);
