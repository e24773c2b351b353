package azuretable

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/handler/tokencache"
)

// answer maps err from the SDK to what a tokencache.Store answers: nil, a
// sentinel error, or a fault. A table deleted under us is created again on
// the next call.
func (s *Store) answer(err error) error {
	switch {
	case err == nil:
		return nil
	case errorCode(err) == aztables.TableNotFound:
		s.created.Store(false)
	case status(err) == http.StatusNotFound:
		return tokencache.ErrNotFound
	case status(err) == http.StatusConflict:
		return tokencache.ErrExists
	case status(err) == http.StatusPreconditionFailed:
		return tokencache.ErrChanged
	}
	return failed(err)
}

// failed is a fault whose text is safe to log: it leaves out the request URL
// that the SDK's own messages quote, which names the user's row.
func failed(err error) error { return errors.New("table storage: " + describe(err)) }

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func errorCode(err error) aztables.TableErrorCode {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return aztables.TableErrorCode(re.ErrorCode)
	}
	return ""
}

// describe summarises err without the request URL.
func describe(err error) string {
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re):
		if re.ErrorCode != "" {
			return fmt.Sprintf("HTTP %d %s (%s)", re.StatusCode, http.StatusText(re.StatusCode), re.ErrorCode)
		}
		return fmt.Sprintf("HTTP %d %s", re.StatusCode, http.StatusText(re.StatusCode))
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
