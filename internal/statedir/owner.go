package statedir

import (
	"os/user"
	"strconv"
)

// The files under the state directory belong to microvm.nix's user and group (microvm:kvm by
// its host module). UserID and GroupID turn the names a module is given into the numeric ids
// that os.Chown takes: a number is taken as it is, a name is looked up in this host's user
// database. The error is the lookup's own (user.UnknownUserError, user.UnknownGroupError):
// the caller says which parameter named it.

// UserID is the uid of name (a user name or a numeric uid).
func UserID(name string) (int, error) {
	return lookupID(name, func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
}

// GroupID is the gid of name (a group name or a numeric gid).
func GroupID(name string) (int, error) {
	return lookupID(name, func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
}

func lookupID(name string, lookup func(string) (string, error)) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	s, err := lookup(name)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(s)
}
