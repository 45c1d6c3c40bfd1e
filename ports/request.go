package ports

import "context"

// The transport puts what it knows about a request in its context, for
// the use cases (rate limits key on the client) and for the event log
// (which writes both). They live beside the ports because both sides of
// the hexagon read them.

type clientKey struct{}

// WithClient returns ctx carrying the client's address, as the transport
// determined it (behind trusted proxies, the forwarded address).
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientFrom returns the client address WithClient stored, or "".
func ClientFrom(ctx context.Context) string {
	addr, _ := ctx.Value(clientKey{}).(string)
	return addr
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served,
// so security events can be matched with the transport's access log.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id WithRequestID stored, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type userAgentKey struct{}

// WithUserAgent returns ctx carrying the client's User-Agent, which a new
// session records so its owner can tell their devices apart.
func WithUserAgent(ctx context.Context, ua string) context.Context {
	return context.WithValue(ctx, userAgentKey{}, ua)
}

// UserAgentFrom returns the User-Agent WithUserAgent stored, or "".
func UserAgentFrom(ctx context.Context) string {
	ua, _ := ctx.Value(userAgentKey{}).(string)
	return ua
}

type actorKey struct{}

// WithActor returns ctx naming who drives the use cases: "cli" for the
// operator's command line, "admin_api" for the admin listener. Security
// events of operator actions carry it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor stored, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}
