// Package client speaks Phantom's HTTP API for the CLI: submitting runs,
// reading them, and following a run's events over Server-Sent Events with
// reconnection (Last-Event-ID) so a dropped connection loses nothing.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
)

// APIError is an error answer of the API, a problem+json document when the
// server sent one.
type APIError struct {
	Status  int
	Problem problems.Problem
}

// Error is one line: what went wrong, the field when there is one, the code.
func (e *APIError) Error() string {
	p := e.Problem
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	var b strings.Builder
	b.WriteString(msg)
	if p.Field != "" {
		fmt.Fprintf(&b, " (field %s)", p.Field)
	}
	if p.Code != "" {
		fmt.Fprintf(&b, " [%s, HTTP %d]", p.Code, e.Status)
	} else {
		fmt.Fprintf(&b, " [HTTP %d]", e.Status)
	}
	return b.String()
}

// Client calls one Phantom API.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// requestTimeout bounds each call that is not a stream.
	requestTimeout time.Duration
}

// New returns a client for s.
func New(s Settings) (*Client, error) {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("PHANTOM_URL %q must be an http:// or https:// URL", s.URL)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
	}
	// No overall client timeout: event streams last as long as runs do.
	// Every other call has its own deadline (requestTimeout).
	return &Client{base: u, token: s.Token, http: &http.Client{Transport: tr}, requestTimeout: 30 * time.Second}, nil
}

// URL is the API's base URL.
func (c *Client) URL() string { return c.base.String() }

// Submit posts a run and returns its id (POST /v1/runs -> 202 {"id"}).
func (c *Client) Submit(ctx context.Context, spec runs.Spec) (string, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("could not encode the run: %w", err)
	}
	var out api.Submitted
	if err := c.do(ctx, http.MethodPost, "/v1/runs", nil, body, &out); err != nil {
		return "", err
	}
	if out.RunID == "" {
		return "", errors.New("could not submit the run: the API answered without a run id")
	}
	return out.RunID, nil
}

// Get returns one run.
func (c *Client) Get(ctx context.Context, id string) (api.Run, error) {
	var r api.Run
	err := c.do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id), nil, nil, &r)
	return r, err
}

// List returns one page of runs, newest first; cursor "" is the first page.
func (c *Client) List(ctx context.Context, limit int, cursor string) (api.RunPage, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p api.RunPage
	err := c.do(ctx, http.MethodGet, "/v1/runs", q, nil, &p)
	return p, err
}

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("could not build the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readAPIError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("could not decode the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// transportError says plainly when nothing listens at the URL.
func (c *Client) transportError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("could not reach Phantom at %s: connection refused (is `phantom up` running?)", c.base)
	}
	return fmt.Errorf("could not reach Phantom at %s: %w", c.base, err)
}

// readAPIError turns an error answer into an *APIError, decoding the
// problem document when there is one and keeping the start of any other body.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, &e.Problem) != nil || (e.Problem.Title == "" && e.Problem.Detail == "" && e.Problem.Code == "") {
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		e.Problem = problems.Problem{Detail: line}
	}
	return e
}
