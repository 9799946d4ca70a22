"""The Pod Security Standards' "baseline" and "restricted" profiles, as checks on a pod.

Written from the rules on kubernetes.io ("Pod Security Standards", policy version
1.25 and later) so the manifests are judged by the profile's own text, not by the code
that writes them. ``violations(pod_spec)`` lists every rule a pod breaks; an empty list
means the pod would be admitted to a namespace labelled
``pod-security.kubernetes.io/enforce: restricted``.
"""

from __future__ import annotations

from typing import Any

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in pod.get(key) or []
    ]


def violations(pod: dict[str, Any]) -> list[str]:
    """Every baseline and restricted rule ``pod`` (a PodSpec as a dict) breaks."""
    found: list[str] = []
    psc = pod.get("securityContext") or {}
    every = containers(pod)
    if not every:
        return ["no containers"]
    scs = [(c.get("name", "?"), c.get("securityContext") or {}) for c in every]

    # -- baseline
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"host namespaces: {key}")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        found.append("hostProcess pod")
    for name, sc in scs:
        if sc.get("privileged"):
            found.append(f"privileged container {name}")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"hostProcess container {name}")
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f"capabilities added beyond baseline in {name}: {sorted(added)}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"procMount in {name}")
        selinux = sc.get("seLinuxOptions") or {}
        if (
            selinux.get("type", "") not in SELINUX_TYPES
            or selinux.get("user")
            or selinux.get("role")
        ):
            found.append(f"seLinuxOptions in {name}")
        apparmor = (sc.get("appArmorProfile") or {}).get("type", "RuntimeDefault")
        if apparmor not in ("RuntimeDefault", "Localhost"):
            found.append(f"appArmorProfile {apparmor} in {name}")
    for volume in pod.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"hostPath volume {volume.get('name')}")
    for c in every:
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"hostPort in {c.get('name')}")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"unsafe sysctl {sysctl.get('name')}")
    if (psc.get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append("seccomp Unconfined on the pod")

    # -- restricted
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume type {sorted(kinds)} of {volume.get('name')}")
    for name, sc in scs:
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"allowPrivilegeEscalation not false in {name}")
        if sc.get("runAsNonRoot") is False or (
            psc.get("runAsNonRoot") is not True and sc.get("runAsNonRoot") is not True
        ):
            found.append(f"runAsNonRoot not true for {name}")
        if sc.get("runAsUser") == 0:
            found.append(f"runAsUser 0 in {name}")
        container_seccomp = (sc.get("seccompProfile") or {}).get("type")
        pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
        if container_seccomp == "Unconfined" or (
            container_seccomp not in ("RuntimeDefault", "Localhost")
            and pod_seccomp not in ("RuntimeDefault", "Localhost")
        ):
            found.append(f"seccompProfile not RuntimeDefault/Localhost for {name}")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"capabilities not dropping ALL in {name}")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"capabilities added in {name}")
    if psc.get("runAsUser") == 0:
        found.append("runAsUser 0 on the pod")
    return found
