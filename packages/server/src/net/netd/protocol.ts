/** Version of the RPC between the daemon and netd: a daemon replaces a netd of another version (docs/network.md, "Daemon restarts"). */
export const NETD_PROTOCOL = 2;
