package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
)

// QueueOptions filter the queue.
type QueueOptions struct {
	Pool, Provider string
	Limit          int
}

// Queue returns the pending runs in dispatch order.
func (c *Client) Queue(ctx context.Context, o QueueOptions) (api.Queue, error) {
	q := url.Values{}
	if o.Pool != "" {
		q.Set("pool", o.Pool)
	}
	if o.Provider != "" {
		q.Set("provider", o.Provider)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out api.Queue
	err := c.do(ctx, http.MethodGet, "/v1/queue", q, nil, &out)
	return out, err
}

// Cancel cancels a run.
func (c *Client) Cancel(ctx context.Context, id, reason string) (api.Canceled, error) {
	var body []byte
	if reason != "" {
		b, err := json.Marshal(api.CancelRequest{Reason: reason})
		if err != nil {
			return api.Canceled{}, fmt.Errorf("could not encode the cancel: %w", err)
		}
		body = b
	}
	var out api.Canceled
	err := c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/cancel", nil, body, &out)
	return out, err
}

// Rerun submits a new run from run id's request with the overrides, and
// returns its id.
func (c *Client) Rerun(ctx context.Context, id string, overrides runs.Spec) (string, error) {
	body, err := json.Marshal(overrides)
	if err != nil {
		return "", fmt.Errorf("could not encode the overrides: %w", err)
	}
	var out api.Submitted
	if err := c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/rerun", nil, body, &out); err != nil {
		return "", err
	}
	if out.RunID == "" {
		return "", errors.New("could not rerun the run: the API answered without a run id")
	}
	return out.RunID, nil
}

// Providers lists the providers.
func (c *Client) Providers(ctx context.Context) ([]api.ProviderState, error) {
	var out api.ProviderList
	err := c.do(ctx, http.MethodGet, "/v1/providers", nil, nil, &out)
	return out.Providers, err
}
