package dicomnode

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one IPv4/IPv6 TCP or UDP socket a process holds, as the
// privacy checks see it.
type Socket struct {
	Proto string // tcp, tcp6, udp, udp6
	Local string // hex address:port as /proc/net writes it
	Port  int
	State string // "0A" is TCP LISTEN
}

// Listening reports whether s is a TCP socket in the LISTEN state.
func (s Socket) Listening() bool { return strings.HasPrefix(s.Proto, "tcp") && s.State == "0A" }

// InetSockets lists the internet sockets process pid holds (Linux: its
// /proc/PID/fd socket inodes looked up in /proc/PID/net/{tcp,udp}{,6}).
// Unix-domain sockets (the X display, the session bus) are not listed.
func InetSockets(pid int) ([]Socket, error) {
	base := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(base, "fd"))
	if err != nil {
		return nil, fmt.Errorf("sockets of %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(base, "fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []Socket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open(filepath.Join(base, "net", proto))
		if err != nil {
			continue // no IPv6 on this machine
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || !inodes[fl[9]] {
				continue
			}
			s := Socket{Proto: proto, Local: fl[1], State: fl[3]}
			if i := strings.LastIndexByte(fl[1], ':'); i >= 0 {
				p, _ := strconv.ParseInt(fl[1][i+1:], 16, 32)
				s.Port = int(p)
			}
			out = append(out, s)
		}
		f.Close()
	}
	return out, nil
}
