"""Which workspace a session works in: the app's two modes, private workspaces, quotas, expiry, the
training queue. Every page reaches the data directory through :func:`home` (``soundkit_app.home``), so
the rules below are enforced here, in one place.

Local mode (the default of ``streamlit run`` on your own machine): one workspace, the data directory
``$SOUNDKIT_HOME`` (default ./soundkit_data), server folders may be imported, no limits.

Hosted mode is on when ``SOUNDKIT_HOSTED``, the secrets ``[soundkit] hosted`` or Community Cloud
detection says so, in that order (the rule and every setting: :mod:`soundkit_app.workspace.server_settings`).

In hosted mode each visitor works in a private workspace, ``$SOUNDKIT_HOME/workspaces/<id>/``, a data
directory of its own (store, runs, policies, exports, caches, job lock). ``<id>`` is 32 hex digits:

- a visitor without sign-in gets an unguessable token (``secrets.token_urlsafe(24)``, 32 URL-safe
  characters) kept in the page address as ``?ws=<token>``; ``<id>`` is a SHA-256 of the token, so the
  folder names on disk are not the keys. A token of the wrong shape is never used for anything; a
  well-formed one whose workspace does not exist (expired, or made up) is not trusted either: the
  visitor gets a new workspace and a note saying so;
- where the deployer configured Streamlit authentication (an ``[auth]`` section in secrets) and the
  visitor signed in (``st.login``), ``<id>`` is an HMAC-SHA256 of the user's subject (or e-mail) under
  a server secret (``workspace_secret``, else a random one kept in ``$SOUNDKIT_HOME/.workspace_secret``).

Limits (:class:`Settings`, env ``SOUNDKIT_<NAME>`` or secrets ``[soundkit] <name>``): clips, stored
megabytes and runs per workspace, a disk cap over all workspaces, idle expiry (a sweep at session
start removes workspaces unused for ``expire_hours``, never the current one nor one with a job), at
most one job per workspace and ``max_jobs`` training jobs at once with a first-come queue
(:class:`soundkit.jobqueue.JobQueue` in ``$SOUNDKIT_HOME/queue.sqlite``) moved by a background thread
of the server and by the Train page. Hitting a limit raises :class:`soundkit.errors.QuotaError`,
shown as one line.

Modules
-------
Each concern is a module of its own, ``soundkit_app.workspace.<module>``; everything is importable
from ``soundkit_app.workspace`` as before it became a package::

    server_settings  Settings, settings(), hosted(), Community Cloud detection (Streamlit secrets,
                     imported inside a function)
    folders          tokens, link and user ids, workspace folders and workspace.json, the server secret
    disk             disk usage, the usage cache of all workspaces, the disk cap (check_disk)
    quotas           WorkspaceStore, open_store, the run limit (check_runs), run deletion
    queue            the server's JobQueue, submit_training, the pump thread (ensure_pump)
    expiry           the sweep of idle workspaces (sweep, sweep_due)
    messages         public_message: errors without server paths
    demo             the demo dataset: its subset, the one-time download, import_demo
    session          Workspace, enter, current, home, usage, the sidebar's box (Streamlit, imported
                     inside the functions)

The modules import each other only downwards (in the order above) and never this package's
``__init__``; only server_settings and session import Streamlit, and only inside functions. Each
piece of module-level state lives in one module: the usage cache in ``disk``, the queue objects and
the pump's set in ``queue``, the demo subsets and the download lock in ``demo``.
"""

from __future__ import annotations

from soundkit_app.workspace.demo import demo_available, demo_dataset, fetch_demo, import_demo
from soundkit_app.workspace.disk import check_disk, disk_usage, forget_usage, total_usage
from soundkit_app.workspace.expiry import sweep, sweep_due
from soundkit_app.workspace.folders import (
    ID_RE,
    META,
    SECRET_NAME,
    TOKEN_RE,
    create,
    created,
    exists,
    last_used,
    link_id,
    new_token,
    server_secret,
    touch,
    user_id,
    valid_token,
    workspace_dir,
)
from soundkit_app.workspace.messages import public_message
from soundkit_app.workspace.queue import QUEUE_NAME, ensure_pump, job_queue, submit_training
from soundkit_app.workspace.quotas import (
    WorkspaceStore,
    check_runs,
    delete_run,
    open_store,
    prune_unfinished_runs,
    run_dirs,
)
from soundkit_app.workspace.server_settings import TUNABLE, WORKSPACES, Settings, hosted, on_community_cloud, settings
from soundkit_app.workspace.session import QUERY_KEY, Workspace, auth_configured, current, enter, home, sidebar, usage

__all__ = [
    # server_settings
    "WORKSPACES",
    "Settings",
    "TUNABLE",
    "on_community_cloud",
    "settings",
    "hosted",
    # folders
    "TOKEN_RE",
    "ID_RE",
    "META",
    "SECRET_NAME",
    "new_token",
    "valid_token",
    "link_id",
    "user_id",
    "workspace_dir",
    "exists",
    "create",
    "created",
    "last_used",
    "touch",
    "server_secret",
    # disk
    "disk_usage",
    "total_usage",
    "forget_usage",
    "check_disk",
    # quotas
    "WorkspaceStore",
    "open_store",
    "run_dirs",
    "prune_unfinished_runs",
    "check_runs",
    "delete_run",
    # queue
    "QUEUE_NAME",
    "job_queue",
    "submit_training",
    "ensure_pump",
    # expiry
    "sweep",
    "sweep_due",
    # messages
    "public_message",
    # demo
    "demo_dataset",
    "fetch_demo",
    "demo_available",
    "import_demo",
    # session
    "QUERY_KEY",
    "Workspace",
    "auth_configured",
    "enter",
    "current",
    "home",
    "usage",
    "sidebar",
]
