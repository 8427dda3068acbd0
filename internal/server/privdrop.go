package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
)

// dropPlan is the identity the server switches to once every socket is
// bound: Config.User and Config.Group resolved to numbers.
type dropPlan struct {
	user   string
	uid    int
	gid    int
	groups []int // supplementary groups: the user's, plus gid
}

// errPAMNeedsRoot explains why --user and PAM accounts do not mix.
var errPAMNeedsRoot = errors.New("server: user cannot be combined with PAM accounts (auth pam or sqlite,pam): " +
	"pam_unix verifies and changes passwords through /etc/shadow, and system mail spools belong to their users, " +
	"so the server must keep running as root; drop the user setting or use auth sqlite")

// planDrop resolves Config.User and Config.Group before anything is bound.
// It returns nil when there is nothing to switch: no user given, or the
// process already runs as that user and group without root.
func planDrop(cfg *Config) (*dropPlan, error) {
	if cfg.User == "" {
		if cfg.Group != "" {
			return nil, fmt.Errorf("server: group %q needs a user to switch to as well", cfg.Group)
		}
		return nil, nil
	}
	_, usePAM, err := parseAuth(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if usePAM {
		return nil, errPAMNeedsRoot
	}
	u, err := lookupUser(cfg.User)
	if err != nil {
		return nil, err
	}
	p := &dropPlan{user: u.Username}
	if p.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("server: user %q: uid %q is not a number", cfg.User, u.Uid)
	}
	if p.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("server: user %q: gid %q is not a number", cfg.User, u.Gid)
	}
	if cfg.Group != "" {
		if p.gid, err = lookupGroup(cfg.Group); err != nil {
			return nil, err
		}
	}
	if p.uid == 0 {
		return nil, fmt.Errorf("server: user %q is root (uid 0); name an unprivileged user to run as", cfg.User)
	}
	if os.Geteuid() != 0 {
		if os.Getuid() == p.uid && os.Geteuid() == p.uid && (cfg.Group == "" || os.Getegid() == p.gid) {
			return nil, nil // already that user: nothing to do
		}
		return nil, fmt.Errorf("server: user %q: running as uid %d, not root; only root can switch to another user", cfg.User, os.Geteuid())
	}
	ids, err := u.GroupIds()
	if err != nil {
		// Without the group list, keep no supplementary group at all.
		ids = nil
	}
	for _, s := range ids {
		if g, err := strconv.Atoi(s); err == nil && !slices.Contains(p.groups, g) {
			p.groups = append(p.groups, g)
		}
	}
	if !slices.Contains(p.groups, p.gid) {
		p.groups = append(p.groups, p.gid)
	}
	return p, nil
}

// lookupUser finds a user by name, or by number when the name is numeric.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, nerr := strconv.Atoi(name); nerr == nil {
		if u, ierr := user.LookupId(name); ierr == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("server: user %q: %w", name, err)
}

// lookupGroup finds a group's id by name, or by number.
func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr != nil {
			return 0, fmt.Errorf("server: group %q: %w", name, err)
		}
		if g, err = user.LookupGroupId(name); err != nil {
			return 0, fmt.Errorf("server: group %q: %w", name, err)
		}
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("server: group %q: gid %q is not a number", name, g.Gid)
	}
	return gid, nil
}

// apply switches every thread of the process to the planned identity
// (the syscall package does so for all threads since Go 1.16) and checks
// that root cannot be regained. On error the caller must not go on.
func (p *dropPlan) apply(log *slog.Logger) error {
	if err := syscall.Setgroups(p.groups); err != nil {
		return fmt.Errorf("server: setgroups %v: %w", p.groups, err)
	}
	if err := syscall.Setgid(p.gid); err != nil {
		return fmt.Errorf("server: setgid %d: %w", p.gid, err)
	}
	if err := syscall.Setuid(p.uid); err != nil {
		return fmt.Errorf("server: setuid %d (%s): %w", p.uid, p.user, err)
	}
	if err := p.verify(); err != nil {
		return err
	}
	log.Info("dropped privileges", "user", p.user, "uid", p.uid, "gid", p.gid, "groups", p.groups)
	return nil
}

// verify checks the process identity after the switch.
func (p *dropPlan) verify() error {
	uid, euid, gid, egid := syscall.Getuid(), syscall.Geteuid(), syscall.Getgid(), syscall.Getegid()
	if uid == 0 || euid == 0 || uid != p.uid || euid != p.uid {
		return fmt.Errorf("server: privilege drop to %s failed: uid %d, euid %d", p.user, uid, euid)
	}
	if gid != p.gid || egid != p.gid {
		return fmt.Errorf("server: privilege drop to %s failed: gid %d, egid %d", p.user, gid, egid)
	}
	if err := syscall.Setuid(0); err == nil {
		return fmt.Errorf("server: privilege drop to %s failed: root could be regained", p.user)
	}
	return nil
}
