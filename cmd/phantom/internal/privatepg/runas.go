package privatepg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the unprivileged user PostgreSQL runs as when Phantom runs as
// root (postgres refuses to run as root). nil means "as this process".
type account struct {
	name     string
	uid, gid uint32
}

// DefaultRootUser is who runs the private PostgreSQL when Phantom is root.
const DefaultRootUser = "nobody"

func lookupAccount(name string) (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if name == "" {
		name = DefaultRootUser
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and user %q (PHANTOM_POSTGRES_USER) does not exist: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has a non-numeric uid or gid", name)
	}
	if uid == 0 {
		return nil, fmt.Errorf("PHANTOM_POSTGRES_USER %q is root; PostgreSQL needs an unprivileged user", name)
	}
	return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// apply makes cmd run as the account, with no supplementary groups.
func (a *account) apply(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if a != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid}
	}
}

// own gives the account dir and everything under it that it does not own yet.
func (a *account) own(dir string) error {
	if a == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == a.uid && st.Gid == a.gid {
			return nil
		}
		if err := os.Lchown(p, int(a.uid), int(a.gid)); err != nil {
			return fmt.Errorf("could not give %s to user %s: %w", p, a.name, err)
		}
		return nil
	})
}

// checkReachable fails, naming the directory in the way, when the account
// cannot walk down to dir (each ancestor needs search permission for it).
func (a *account) checkReachable(dir string) error {
	if a == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("could not inspect %s: %w", p, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return errors.New("could not read file ownership on this system")
		}
		mode := st.Mode().Perm()
		var can bool
		switch {
		case sys.Uid == a.uid:
			can = mode&0o100 != 0
		case sys.Gid == a.gid:
			can = mode&0o010 != 0
		default:
			can = mode&0o001 != 0
		}
		if !can {
			return fmt.Errorf("PostgreSQL refuses to run as root, so Phantom runs it as user %s, who cannot enter %s (mode %04o, owner uid %d): "+
				"make it searchable (chmod o+x %s), choose a PHANTOM_DATA_DIR outside it, set PHANTOM_POSTGRES_USER, or set PHANTOM_DATABASE_URL",
				a.name, p, mode, sys.Uid, p)
		}
		if p == "/" || p == filepath.Dir(p) {
			return nil
		}
	}
}
