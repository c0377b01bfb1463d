package instrument

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestClass(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, ClassTimeout},
		{fmt.Errorf("get session: %w", os.ErrDeadlineExceeded), ClassTimeout},
		{context.Canceled, ClassCanceled},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ClassUnavailable},
		{fmt.Errorf("redis: %w", syscall.ECONNRESET), ClassUnavailable},
		{net.ErrClosed, ClassUnavailable},
		{errors.New("ERR wrong number of arguments"), ClassOther},
	} {
		if got := Class(tt.err); got != tt.want {
			t.Errorf("Class(%v): got %q, want %q", tt.err, got, tt.want)
		}
	}
}
