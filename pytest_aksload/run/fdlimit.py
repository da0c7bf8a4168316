"""Will the load generator have enough file descriptors for its users?

Each Locust user holds one keep-alive connection (a socket: a file descriptor) and Locust needs
some more of its own. The child inherits this process's RLIMIT_NOFILE; Locust raises its soft
limit to 10,000 when the hard limit allows, and this module raises it further for bigger runs,
but nothing can pass the hard limit. Past it, connections fail with "Too many open files",
which would read as an endpoint failure: refuse the run instead and say which limit to raise.
"""

from __future__ import annotations

# Locust's own files, pipes, the result file, DNS and logging, with room to spare.
BASE_DESCRIPTORS = 128


def descriptors_needed(users: int) -> int:
    return users + BASE_DESCRIPTORS


def open_files_problem(users: int) -> str | None:
    """None when `users` fit under the open-files limit (raising the soft limit if needed and
    allowed, which the child inherits), else a one-line message saying what to raise."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE; sockets are not bounded the same way
        return None
    needed = descriptors_needed(users)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    if hard == resource.RLIM_INFINITY or hard >= needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
            return None
        except (ValueError, OSError):
            pass
    return (
        f"users={users} need about {needed} open files (one connection each), but this process may open "
        f"only {soft} (RLIMIT_NOFILE soft) / {hard} (hard): raise the limit (ulimit -n {needed}, or "
        f"LimitNOFILE= / --ulimit nofile= for services and containers) or run fewer users"
    )
