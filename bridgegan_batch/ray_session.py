"""Ray for one command: join a cluster, or start an embedded one that only this machine can reach."""

from __future__ import annotations

import os

LOOPBACK = "127.0.0.1"


class RaySession:
    """Joins the Ray cluster at `address` or starts an embedded one on first need; stops only what it started."""

    def __init__(self, address: str):
        self.address, self.started = address, False
        self.cluster_mode: bool | None = None  # Ray's own setting, while the embedded Ray changes it

    def ensure(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False}
        if self.address:
            ray.init(address=self.address, **kwargs)
        else:  # embedded: a local Ray with this machine's cores, reachable from this machine only
            # Ray 2.60 on Linux turns a node address of 127.0.0.1 into the machine's outward one, and
            # its gRPC servers bind every interface unless the node address is loopback. Clearing its
            # multi-node switch (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER, read at import) keeps 127.0.0.1,
            # and every server (GCS, raylet, object manager, workers, agents) binds loopback only.
            from ray._private import ray_constants

            self.cluster_mode, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
            try:
                # address="local": a new Ray even where RAY_ADDRESS is set (inside a Ray job, say), which
                # ray.init would otherwise join, and join with this node claiming 127.0.0.1.
                ray.init(address="local", num_cpus=os.cpu_count(), dashboard_host=LOOPBACK, _node_ip_address=LOOPBACK,
                         **kwargs)
            except BaseException:
                self._restore()
                raise
        self.started = True

    def close(self) -> None:
        if self.started:
            import ray

            ray.shutdown()
            self.started = False
            self._restore()

    def _restore(self) -> None:
        if self.cluster_mode is not None:  # a later ray.init(address=...) in this process needs it back
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER, self.cluster_mode = self.cluster_mode, None
