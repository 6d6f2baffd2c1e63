package keepfed

import (
	"fmt"
	"net"
	"os"
)

// NotifySocketEnv names the environment variable in which systemd passes
// the notification socket to a Type=notify service.
const NotifySocketEnv = "NOTIFY_SOCKET"

// SdNotify sends state (for example "READY=1" or "STOPPING=1") to the
// service manager named by $NOTIFY_SOCKET, as sd_notify(3) does. It
// reports whether a message was sent: without $NOTIFY_SOCKET (not started
// by systemd, or not Type=notify) it does nothing and returns false, nil.
func SdNotify(state string) (bool, error) {
	return SdNotifySocket(os.Getenv(NotifySocketEnv), state)
}

// SdNotifySocket is SdNotify with the socket given: a filesystem path, or
// an abstract socket name when it starts with '@'. An empty socket is a
// no-op.
func SdNotifySocket(socket, state string) (bool, error) {
	if socket == "" {
		return false, nil
	}
	if socket[0] != '/' && socket[0] != '@' {
		return false, fmt.Errorf("%s=%q: want an absolute path or an abstract socket name starting with '@'", NotifySocketEnv, socket)
	}
	// The Go runtime maps a leading '@' to the abstract namespace (a
	// leading NUL byte) on Linux.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("connecting to the service manager at %s: %w", socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("notifying the service manager at %s: %w", socket, err)
	}
	return true, nil
}
