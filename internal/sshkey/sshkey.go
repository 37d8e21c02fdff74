// Package sshkey makes and reads SSH host keys in OpenSSH's own file format, so that a
// VM's host key can be made on its hypervisor before the guest first boots. The private
// key stays in the file it is written to: nothing here returns it to a caller.
//
// The formats follow OpenSSH: the private key file is "openssh-key-v1" (PROTOCOL.key in
// openssh-portable), the ed25519 key blobs are PROTOCOL's "ssh-ed25519" (RFC 8709 §4),
// the public line is what ssh-keygen writes to <key>.pub, and the fingerprint is
// ssh-keygen -l's SHA256 form (unpadded base64 of the blob's SHA-256). The tests check
// each against ssh-keygen itself.
package sshkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Ed25519 is the key type this package makes (OpenSSH's name).
const Ed25519 = "ssh-ed25519"

const magic = "openssh-key-v1\x00"

// Public is the public half of a host key.
type Public struct {
	Type string // e.g. "ssh-ed25519"
	Blob []byte // the wire-format public key
}

// Line is the key as known_hosts and <key>.pub hold it: "<type> <base64 blob>".
func (p Public) Line() string {
	return p.Type + " " + base64.StdEncoding.EncodeToString(p.Blob)
}

// Fingerprint is ssh-keygen -l's SHA256 fingerprint: "SHA256:<unpadded base64>".
func (p Public) Fingerprint() string {
	sum := sha256.Sum256(p.Blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// GenerateEd25519 makes a new ed25519 key from rand (crypto/rand when nil) and returns the
// private key file's content (PEM "OPENSSH PRIVATE KEY", unencrypted, as ssh-keygen -N ”
// writes it) and the public key. comment is stored in the private key, as ssh-keygen -C.
func GenerateEd25519(random io.Reader, comment string) ([]byte, Public, error) {
	if random == nil {
		random = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return nil, Public{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	var blob bytes.Buffer
	putString(&blob, []byte(Ed25519))
	putString(&blob, pub)

	var check [4]byte
	if _, err := io.ReadFull(random, check[:]); err != nil {
		return nil, Public{}, fmt.Errorf("generate check bytes: %w", err)
	}
	var sec bytes.Buffer
	sec.Write(check[:]) // checkint, twice
	sec.Write(check[:])
	putString(&sec, []byte(Ed25519))
	putString(&sec, pub)
	putString(&sec, priv) // 64 bytes: seed then public key, as OpenSSH stores it
	putString(&sec, []byte(comment))
	for i := byte(1); sec.Len()%8 != 0; i++ { // padding 1, 2, 3, ... to the cipher's block size (8 for "none")
		sec.WriteByte(i)
	}

	var out bytes.Buffer
	out.WriteString(magic)
	putString(&out, []byte("none")) // ciphername
	putString(&out, []byte("none")) // kdfname
	putString(&out, nil)            // kdfoptions
	_ = binary.Write(&out, binary.BigEndian, uint32(1))
	putString(&out, blob.Bytes())
	putString(&out, sec.Bytes())
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: out.Bytes()}), Public{Type: Ed25519, Blob: blob.Bytes()}, nil
}

// PublicOf reads the public key from a private key file in OpenSSH's format, of any key
// type and encrypted or not (the public key is in the file's clear header). It fails for
// other formats (PEM "RSA PRIVATE KEY", PuTTY) and files with more than one key.
func PublicOf(file []byte) (Public, error) {
	block, _ := pem.Decode(file)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		return Public{}, errors.New("not an OpenSSH private key file (no \"BEGIN OPENSSH PRIVATE KEY\" block)")
	}
	b := block.Bytes
	if !bytes.HasPrefix(b, []byte(magic)) {
		return Public{}, errors.New("not an openssh-key-v1 key")
	}
	r := bytes.NewReader(b[len(magic):])
	for _, what := range []string{"cipher name", "kdf name", "kdf options"} {
		if _, err := getString(r); err != nil {
			return Public{}, fmt.Errorf("read %s: %w", what, err)
		}
	}
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return Public{}, fmt.Errorf("read key count: %w", err)
	}
	if n != 1 {
		return Public{}, fmt.Errorf("the file holds %d keys, not one", n)
	}
	blob, err := getString(r)
	if err != nil {
		return Public{}, fmt.Errorf("read public key: %w", err)
	}
	typ, err := getString(bytes.NewReader(blob))
	if err != nil || len(typ) == 0 {
		return Public{}, errors.New("public key without a key type")
	}
	return Public{Type: string(typ), Blob: blob}, nil
}

// ParseLine reads "<type> <base64 blob> [comment]" (a <key>.pub line or the key fields of a
// known_hosts line) and checks that the blob names the same type.
func ParseLine(line string) (Public, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return Public{}, fmt.Errorf("not a public key line: %q", line)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return Public{}, fmt.Errorf("public key of type %s: bad base64: %w", f[0], err)
	}
	typ, err := getString(bytes.NewReader(blob))
	if err != nil || string(typ) != f[0] {
		return Public{}, fmt.Errorf("public key blob is not of type %s", f[0])
	}
	return Public{Type: f[0], Blob: blob}, nil
}

func putString(w *bytes.Buffer, s []byte) {
	_ = binary.Write(w, binary.BigEndian, uint32(len(s)))
	w.Write(s)
}

func getString(r *bytes.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	if int64(n) > int64(r.Len()) {
		return nil, fmt.Errorf("length %d beyond the end of the data", n)
	}
	s := make([]byte, n)
	_, err := io.ReadFull(r, s)
	return s, err
}
