package daemon

import "os"

// HostToken returns this machine's hostname made into a subject token (the
// default PHANTOM_HOST of the runner and the worktree service, which must
// agree on it: the runner asks phantom.rpc.worktree.<host>.prepare).
func HostToken() string {
	host, _ := os.Hostname()
	host = notToken.ReplaceAllString(host, "-")
	if len(host) > 64 {
		host = host[:64]
	}
	if host == "" {
		host = "host"
	}
	return host
}
