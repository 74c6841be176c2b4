package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/inmemdb/inmem"
)

// Config configures a Server. Zero fields take the defaults.
type Config struct {
	// Addr is the listen address (default 127.0.0.1:7070).
	Addr string
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request but /healthz. A non-loopback Addr without a token is
	// refused.
	Token string
	// TLSCert and TLSKey, both set, serve HTTPS.
	TLSCert, TLSKey string
	// MaxBodyBytes bounds a request body (default 32 MiB: a JSON document
	// may hold 16 MiB of encoded data, and JSON text is larger).
	MaxBodyBytes int64
	// ReadHeaderTimeout and ReadTimeout bound how long a client may take
	// to send its request (defaults 10s and 60s), so slow clients cannot
	// hold connections open.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds writing one response (default 60s), and each
	// batch of events a change feed writes, so a client that stops reading
	// cannot hold a connection for ever.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown (default 30s).
	ShutdownTimeout time.Duration
	// Logger receives request errors (default silent).
	Logger *slog.Logger
	// NoMCP leaves /mcp unmounted.
	NoMCP bool
}

// DefaultAddr is where the server listens unless told otherwise.
const DefaultAddr = "127.0.0.1:7070"

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves one open database over HTTP.
type Server struct {
	db      *inmem.DB
	cfg     Config
	mux     *http.ServeMux
	changes notifier
	metrics *metrics
	// stop ends every change feed when the server shuts down: a follower
	// would otherwise keep Shutdown waiting for ever.
	stop       chan struct{}
	stopClosed bool
	mcpState
}

// New returns a server for db. It does not listen; see Serve and Handler.
func New(db *inmem.DB, cfg Config) *Server {
	cfg.defaults()
	s := &Server{db: db, cfg: cfg, mux: http.NewServeMux(), metrics: newMetrics(), stop: make(chan struct{})}
	for _, r := range s.routes() {
		s.mux.Handle(r.pattern(), s.instrument(r))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{status: http.StatusNotFound, code: "NotFound", msg: "no route for " + r.Method + " " + r.URL.Path})
	})
	if !cfg.NoMCP {
		s.mux.Handle("/mcp", s.mcpHTTPHandler())
	}
	return s
}

// Handler returns the server's HTTP handler, with authentication.
func (s *Server) Handler() http.Handler { return s.auth(noRedirects(s.mux)) }

// noRedirects answers 400 for a path the mux would clean and redirect
// ("a//b", "a/./b", "a/../b"): a key with such segments would otherwise
// reach a different key, and clients that follow redirects with the same
// method would write there. Such keys are reachable through /v1/batch.
func noRedirects(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.Contains(p, "//") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") {
			writeError(w, newErr(inmem.CodeInvalidKey, "route", "path %q has empty, \".\" or \"..\" segments; address such keys through POST /v1/batch", p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// httpError is an error the HTTP layer itself reports (authentication,
// body limits, unknown routes), with its own status and code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

// statusOf maps a database error code to an HTTP status: 4xx for anything
// a client can cause, 5xx only for the server's own failures.
func statusOf(c inmem.Code) int {
	switch c {
	case inmem.CodeNotFound, inmem.CodeRunNotFound:
		return http.StatusNotFound
	case inmem.CodeAlreadyExists, inmem.CodeConflict, inmem.CodeConstraintViolation, inmem.CodeRunClosed:
		return http.StatusConflict
	case inmem.CodeWrongType, inmem.CodeInvalidKey, inmem.CodeInvalidPath, inmem.CodeInvalidArgument:
		return http.StatusBadRequest
	case inmem.CodeHistoryTrimmed:
		return http.StatusGone
	case inmem.CodeCanceled, inmem.CodeDeadlineExceeded:
		return http.StatusRequestTimeout
	case inmem.CodeClosed, inmem.CodeLocked, inmem.CodePoisoned:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code     string  `json:"code"`
	Message  string  `json:"message"`
	Op       *int    `json:"op_index,omitempty"`
	Expected *uint64 `json:"expected_version,omitempty"`
	Actual   *uint64 `json:"actual_version,omitempty"`
	// Conflicts lists the entities of a refused merge (at most
	// maxConflictsShown of ConflictsTotal).
	Conflicts      []Result `json:"conflicts,omitempty"`
	ConflictsTotal int      `json:"conflicts_total,omitempty"`
}

func errorDetailOf(err error) (int, errorDetail) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, errorDetail{Code: he.code, Message: he.msg}
	}
	c, name := codeName(err)
	msgErr := err
	var oe *OpError
	if errors.As(err, &oe) {
		msgErr = oe.Err
	}
	d := errorDetail{Code: name, Message: strings.TrimPrefix(msgErr.Error(), "inmem: ")}
	if oe != nil {
		i := oe.Index
		d.Op = &i
	}
	var e *inmem.Error
	if errors.As(err, &e) && e.Expected != nil && e.Actual != nil {
		ex, ac := e.Expected.N, e.Actual.N
		d.Expected, d.Actual = &ex, &ac
	}
	if cs, total, inner, ok := mergeConflictsOf(err); ok {
		d.Conflicts, d.ConflictsTotal = cs, total
		d.Message = strings.TrimPrefix(inner.Error(), "inmem: ")
	}
	return statusOf(c), d
}

func writeError(w http.ResponseWriter, err error) {
	status, d := errorDetailOf(err)
	writeJSON(w, status, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// A value JSON cannot carry (bytes, NaN) is the data's limit, not
		// the server's failure.
		status = http.StatusUnprocessableEntity
		b, _ = json.Marshal(errorBody{Error: errorDetail{Code: "InvalidArgument", Message: "result is not representable as JSON: " + err.Error()}})
	}
	// One slice for every response: Header.Set would allocate one each.
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

var jsonContentType = []string{"application/json"}

func badJSON(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return newErr(inmem.CodeInvalidArgument, "decode", "field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		return newErr(inmem.CodeInvalidArgument, "decode", "malformed JSON at offset %d: %v", se.Offset, err)
	}
	return newErr(inmem.CodeInvalidArgument, "decode", "%v", err)
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if dec.More() {
		return newErr(inmem.CodeInvalidArgument, "decode", "trailing data after the JSON value")
	}
	return nil
}

// readBody reads a bounded request body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge, code: "InvalidArgument", msg: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, &httpError{status: http.StatusBadRequest, code: "InvalidArgument", msg: "reading the request body: " + err.Error()}
	}
	return body, nil
}

// decodeBody strictly decodes the request body into v.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newErr(inmem.CodeInvalidArgument, "decode", "a JSON request body is required")
	}
	return strictUnmarshal(body, v)
}

// auth requires the bearer token, when one is configured, everywhere but
// /healthz (probes carry no secrets).
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="inmem"`)
			writeError(w, &httpError{status: http.StatusUnauthorized, code: "Unauthenticated", msg: "a valid bearer token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether addr (host:port) listens only on the loopback
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadToken reads a bearer token from a file (surrounding whitespace
// trimmed); an empty token is an error.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}

// CheckConfig refuses configurations that would expose the database:
// a non-loopback address without a token, half a TLS pair.
func CheckConfig(cfg Config) error {
	cfg.defaults()
	if !IsLoopback(cfg.Addr) && cfg.Token == "" {
		return fmt.Errorf("listening on %s (not loopback) requires --token-file", cfg.Addr)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	return nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, ends the change feeds, and waits (up to ShutdownTimeout) for
// in-flight requests — and so their commits — to finish. The caller closes
// the database afterwards.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := CheckConfig(s.cfg); err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.RegisterOnShutdown(s.endFeeds)
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- hs.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	return err
}

func (s *Server) endFeeds() {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	if !s.stopClosed {
		s.stopClosed = true
		close(s.stop)
	}
}

// apply runs ops as one batch on run and wakes the change feeds after a
// commit. Every write of the server goes through here.
func (s *Server) apply(ctx context.Context, run inmem.RunID, ops []Op) ([]Result, uint64, error) {
	if len(ops) > maxBatchOps {
		return nil, 0, newErr(inmem.CodeInvalidArgument, "batch", "a batch holds at most %d operations", maxBatchOps)
	}
	start := time.Now()
	write := isWrite(ops)
	if write {
		s.metrics.committing.Add(1)
		defer s.metrics.committing.Add(-1)
	}
	res, cv, err := applyOps(ctx, s.db, run, ops)
	if write {
		s.metrics.observeCommit(time.Since(start), len(ops), err)
		if err == nil {
			s.changes.notify()
		}
	}
	return res, cv, err
}

// apply1 applies one operation and returns its result.
func (s *Server) apply1(ctx context.Context, run inmem.RunID, op Op) (Result, error) {
	if _, ok := opSpecs[op.Op]; !ok {
		return nil, newErr(inmem.CodeInvalidArgument, "batch", "unknown operation %q", op.Op)
	}
	res, _, err := s.apply(ctx, run, []Op{op})
	if err != nil {
		var oe *OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, err
	}
	return res[0], nil
}

// queryUint parses an optional unsigned query parameter.
func queryUint(r *http.Request, name string) (uint64, bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, newErr(inmem.CodeInvalidArgument, "query", "parameter %s: %q is not an unsigned integer", name, s)
	}
	return n, true, nil
}
