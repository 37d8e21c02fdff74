package volume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/business-operations/bo.microvm/internal/command"
)

// image is what the host holds at a volume's path.
type image struct {
	Exists  bool
	Regular bool
	Size    int64
	UID     int
	GID     int
	Mode    os.FileMode
	FSType  string // blkid's TYPE, or "partition table (gpt)" and the like; "" when none found
	Label   string
	HasData bool  // no signature, but non-zero bytes (only probed when FSType is "")
	FSBytes int64 // ext4: blocks * block size; 0 when unknown
}

// dataScanLimit bounds how many bytes of an image without a signature are read to tell
// an empty image from one holding data. Holes are skipped for free (SEEK_DATA); an image
// with more allocated data than this, all of it zero, is still treated as holding data.
const dataScanLimit = 64 * MiB

// probe reads the image at path without changing it.
func (m *Manager) probe(ctx context.Context, path string) (image, error) {
	var img image
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return img, nil
	}
	if err != nil {
		return img, err
	}
	img.Exists = true
	img.Regular = st.Mode().IsRegular()
	if !img.Regular {
		return img, nil
	}
	img.Size = st.Size()
	img.Mode = st.Mode().Perm()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		img.UID, img.GID = int(sys.Uid), int(sys.Gid)
	}
	out, err := m.Runner.Run(ctx, command.Cmd{Name: "blkid", Args: []string{"-p", "-o", "export", path}})
	var ce *command.Error
	switch {
	case err == nil:
		kv := parseExport(string(out.Stdout))
		img.FSType, img.Label = kv["TYPE"], kv["LABEL"]
		if img.FSType == "" && kv["PTTYPE"] != "" {
			img.FSType = "partition table (" + kv["PTTYPE"] + ")"
		}
		if img.FSType == "" {
			img.FSType = "unknown signature"
		}
	case errors.As(err, &ce) && ce.ExitCode == 2: // nothing found
	case errors.As(err, &ce) && ce.ExitCode == 8: // ambivalent: several signatures
		img.FSType = "ambivalent signatures"
	default:
		return img, fmt.Errorf("probe %s: %w", path, err)
	}
	if img.FSType == "" {
		if img.HasData, err = hasData(path); err != nil {
			return img, fmt.Errorf("probe %s: %w", path, err)
		}
	}
	if img.FSType == Ext4 {
		if img.FSBytes, err = m.ext4Bytes(ctx, path); err != nil {
			return img, err
		}
	}
	return img, nil
}

func parseExport(s string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// ext4Bytes reads the filesystem's size from its superblock (dumpe2fs -h).
func (m *Manager) ext4Bytes(ctx context.Context, path string) (int64, error) {
	out, err := m.Runner.Run(ctx, command.Cmd{Name: "dumpe2fs", Args: []string{"-h", path}})
	if err != nil {
		return 0, fmt.Errorf("read the ext4 superblock of %s: %w", path, err)
	}
	var count, size int64
	sc := bufio.NewScanner(strings.NewReader(string(out.Stdout)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Block count":
			count = n
		case "Block size":
			size = n
		}
	}
	if count == 0 || size == 0 {
		return 0, fmt.Errorf("read the ext4 superblock of %s: no block count and size in dumpe2fs -h output", path)
	}
	return count * size, nil
}

// hasData reports whether the file holds any non-zero byte, reading only its allocated
// extents and at most dataScanLimit bytes (beyond that it answers true: not provably empty).
func hasData(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	size := st.Size()
	buf := make([]byte, MiB)
	var read int64
	off := int64(0)
	for off < size {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return false, nil // only holes from here
		}
		if err != nil {
			data = off // no SEEK_DATA support: read everything
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		for p := data; p < hole; {
			if read >= dataScanLimit {
				return true, nil
			}
			n := min(int64(len(buf)), hole-p)
			k, err := f.ReadAt(buf[:n], p)
			if err != nil && !errors.Is(err, io.EOF) {
				return false, err
			}
			for _, b := range buf[:k] {
				if b != 0 {
					return true, nil
				}
			}
			if k == 0 {
				break
			}
			p += int64(k)
			read += int64(k)
		}
		off = hole
	}
	return false, nil
}
