package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.Mailer = (*File)(nil)

// File writes each message as an RFC 5322 .eml file into a directory,
// for development and tests: nothing leaves the machine. File names sort
// by time and never collide: 20261203T095501.123456789Z-<random>.eml.
// Each file appears whole (written to a temporary file, then linked to
// its name), readable by the owner only.
type File struct {
	dir      string
	from     string
	renderer *Renderer
	// Now names the files and stamps the Date header; time.Now unless a
	// test sets it.
	Now func() time.Time
}

// NewFile returns a Mailer that writes into dir, creating it (mode 0700)
// when missing.
func NewFile(dir, from string, r *Renderer) (*File, error) {
	if r == nil {
		return nil, errors.New("mail: nil renderer")
	}
	if dir == "" {
		return nil, errors.New("mail: no directory for mail files")
	}
	if err := checkFrom(from); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: directory for mail files: %w", err)
	}
	return &File{dir: dir, from: from, renderer: r, Now: time.Now}, nil
}

// Send renders m and writes it to a new file. Returns EINVALID for an
// unknown template and EUNAVAILABLE when the file cannot be written.
func (f *File) Send(ctx context.Context, m ports.Mail) error {
	if err := ctx.Err(); err != nil {
		return domain.Unavailable(err)
	}
	now := f.Now().UTC()
	msg, err := buildMsg(f.renderer, f.from, now, m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir, ".tmp-*.eml") // mode 0600
	if err != nil {
		return domain.Unavailable(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return domain.Unavailable(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return domain.Unavailable(err)
	}
	if err := tmp.Close(); err != nil {
		return domain.Unavailable(err)
	}
	// A hard link fails when the name exists, where a rename would
	// replace it: a collision can never lose a message.
	stamp := now.Format("20060102T150405.000000000Z")
	for range 5 {
		name := filepath.Join(f.dir, stamp+"-"+randomSuffix()+".eml")
		err = os.Link(tmp.Name(), name)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return domain.Unavailable(err)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
