package integration

import (
	"context"
	"errors"
	"os/exec"
)

var errNoCtl = errors.New("broker control script is empty")

// execCommand runs path with args and returns its combined output.
func execCommand(ctx context.Context, path string, args ...string) (string, error) {
	if path == "" {
		return "", errNoCtl
	}
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}
