package client

import (
	"context"
	"encoding/json"
	"fmt"
)

// Call sends a JSON request to an API path and decodes the answer into out
// (nil: ignore it). A body of nil sends none.
func (c *Client) Call(ctx context.Context, method, path string, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("could not encode the request: %w", err)
		}
	}
	return c.do(ctx, method, path, nil, raw, out)
}
