package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// Queue is GET /v1/queue's answer.
type Queue struct {
	Live     bool                 `json:"live"`
	Instance string               `json:"instance,omitempty"`
	AsOf     time.Time            `json:"asOf"`
	Limits   *rpc.SchedulerLimits `json:"limits"`
	Pending  int                  `json:"pending"`
	Running  int                  `json:"running"`
	Jobs     []rpc.QueueJob       `json:"jobs"`
}

// QueueOptions filter the queue.
type QueueOptions struct {
	Pool, Provider string
	Limit          int
}

// Queue returns the pending runs in dispatch order.
func (c *Client) Queue(ctx context.Context, o QueueOptions) (Queue, error) {
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
	var out Queue
	err := c.do(ctx, http.MethodGet, "/v1/queue", q, nil, &out)
	return out, err
}

// Canceled is POST /v1/runs/{id}/cancel's answer.
type Canceled struct {
	ID string `json:"id"`
	// Status is "canceled", or "canceling" while the runner stops the run.
	Status string `json:"status"`
}

// Cancel cancels a run.
func (c *Client) Cancel(ctx context.Context, id, reason string) (Canceled, error) {
	var body []byte
	if reason != "" {
		b, err := json.Marshal(map[string]string{"reason": reason})
		if err != nil {
			return Canceled{}, fmt.Errorf("could not encode the cancel: %w", err)
		}
		body = b
	}
	var out Canceled
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
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/rerun", nil, body, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errors.New("could not rerun the run: the API answered without a run id")
	}
	return out.ID, nil
}

// ProviderHold is a provider's last quota hold.
type ProviderHold struct {
	Until      time.Time `json:"until"`
	Reason     *string   `json:"reason"`
	ResetKnown *bool     `json:"resetKnown"`
	RunID      *string   `json:"runId"`
	Message    *string   `json:"message"`
}

// Provider is one provider's runs and hold.
type Provider struct {
	Provider string        `json:"provider"`
	Queued   int           `json:"queued"`
	Retrying int           `json:"retrying"`
	Running  int           `json:"running"`
	Held     bool          `json:"held"`
	LastHold *ProviderHold `json:"lastHold"`
	Holds    int           `json:"holds"`
}

// Providers lists the providers.
func (c *Client) Providers(ctx context.Context) ([]Provider, error) {
	var out struct {
		Providers []Provider `json:"providers"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/providers", nil, nil, &out)
	return out.Providers, err
}
