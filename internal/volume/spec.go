package volume

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// MiB is the unit of sizes, as microvm.nix's volumes.*.size.
const MiB = 1 << 20

// Filesystem types microvm_volume creates. None is a raw image (e.g. a Rook-Ceph OSD disk).
const (
	Ext4  = "ext4"
	XFS   = "xfs"
	Btrfs = "btrfs"
	None  = "none"
)

// Defaults of a volume's attributes: the hypervisor runs as microvm:kvm.
const (
	DefaultOwner = "microvm"
	DefaultGroup = "kvm"
	DefaultMode  = os.FileMode(0o660)
)

// Volume is one image as the site describes it.
type Volume struct {
	Path    string      // relative to the VM directory, or absolute
	SizeMiB int64       // 0 when not given (state=absent)
	FSType  string      // ext4, xfs, btrfs or none
	Label   string      // filesystem label, "" for none
	Owner   string      // user name or numeric id
	Group   string      // group name or numeric id
	Mode    os.FileMode // permission bits
}

// maxLabel is the longest label each mkfs accepts.
var maxLabel = map[string]int{Ext4: 16, XFS: 12, Btrfs: 255}

// ParseSize reads a size given in MiB as an integer, or as a string with an optional binary
// unit: "512", "512M", "512MiB", "20G", "20GiB", "1T". It must be a whole number of MiB and
// positive.
func ParseSize(v any) (int64, error) {
	switch t := v.(type) {
	case int:
		return positive(int64(t))
	case int64:
		return positive(t)
	case float64:
		if t != math.Trunc(t) {
			return 0, fmt.Errorf("%v is not a whole number of MiB", t)
		}
		return positive(int64(t))
	case json.Number:
		return ParseSize(t.String())
	case string:
		return parseSizeString(t)
	case nil:
		return 0, fmt.Errorf("is required")
	}
	return 0, fmt.Errorf("must be a number of MiB or a string like 20G, got %v", v)
}

var sizeRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)

func parseSizeString(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: give MiB as a number, or a number with M, G or T (binary units), e.g. 20G", s)
	}
	mult, ok := map[string]float64{"": 1, "m": 1, "mib": 1, "mb": 1, "g": 1024, "gib": 1024, "gb": 1024, "t": 1024 * 1024, "tib": 1024 * 1024, "tb": 1024 * 1024}[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q: use M, G or T (binary: 1G = 1024 MiB)", s, m[2])
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %v", s, err)
	}
	mib := n * mult
	if mib != math.Trunc(mib) {
		return 0, fmt.Errorf("%q is not a whole number of MiB", s)
	}
	return positive(int64(mib))
}

func positive(n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("must be positive, got %d", n)
	}
	return n, nil
}

// ParseMode reads a mode as Ansible's file modules do: a string is octal ("0660", "660"),
// an integer is taken as is (YAML 0660 arrives as 432).
func ParseMode(v any) (os.FileMode, error) {
	switch t := v.(type) {
	case nil:
		return DefaultMode, nil
	case int:
		return modeOf(int64(t))
	case int64:
		return modeOf(t)
	case float64:
		return modeOf(int64(t))
	case json.Number:
		n, err := t.Int64()
		if err != nil {
			return 0, err
		}
		return modeOf(n)
	case string:
		n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(t), "0o"), 8, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an octal mode like 0660", t)
		}
		return modeOf(n)
	}
	return 0, fmt.Errorf("must be an octal string like 0660, got %v", v)
}

func modeOf(n int64) (os.FileMode, error) {
	if n < 0 || n > 0o777 {
		return 0, fmt.Errorf("%#o has bits beyond 0777 (permission bits only)", n)
	}
	return os.FileMode(n), nil
}

// validate checks one volume; where names it in errors ("volumes[0]").
func (v Volume) validate(where string, present bool) error {
	p := v.Path
	switch {
	case p == "":
		return fmt.Errorf("%s.path: is required", where)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("%s.path: %q names a directory; give an image file", where, p)
	case !filepath.IsAbs(p) && (filepath.Clean(p) == ".." || strings.HasPrefix(filepath.Clean(p), "../")):
		return fmt.Errorf("%s.path: %q leaves the VM directory; give an absolute path for an image elsewhere", where, p)
	}
	if !present {
		return nil
	}
	if v.SizeMiB <= 0 {
		return fmt.Errorf("%s.size: is required with state=present", where)
	}
	switch v.FSType {
	case Ext4, XFS, Btrfs:
		if len(v.Label) > maxLabel[v.FSType] {
			return fmt.Errorf("%s.label: %q is %d characters; %s labels hold at most %d", where, v.Label, len(v.Label), v.FSType, maxLabel[v.FSType])
		}
	case None:
		if v.Label != "" {
			return fmt.Errorf("%s.label: a raw image (fs_type none) has no filesystem to label", where)
		}
	default:
		return fmt.Errorf("%s.fs_type: must be one of ext4, xfs, btrfs, none, got %q", where, v.FSType)
	}
	return nil
}
