// Command responder answers HTTP as the stack's kwok pods would if they ran: kwok gives pods
// loopback IPs (up.sh's --cidr), and this process listens on podIP:containerPort for every Ready
// pod. The API server refuses loopback addresses in EndpointSlices, so routers reach pods through
// Service ClusterIPs (also loopback, up.sh's --service-cluster-ip-range): the responder also
// listens on clusterIP:port of every Service and plays kube-proxy, answering as one of the
// Service's Ready pods per request (round robin; terminating pods only when none is Ready). Each answer names the pod, its owner
// and its image digest (headers and a JSON body). Pod labels simulate a broken version:
//
//	sim.kube-ship.dev/http: "500"        answer with that status
//	sim.kube-ship.dev/http-delay: "200ms" answer after that delay
//
// A pod that stops being Ready or is deleted keeps being served for its grace period (capped),
// as an app that drains on SIGTERM would, so endpoint removal races no in-flight request.
// Standard library only: it watches pods with the admin client certificate.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	httpLabel  = "sim.kube-ship.dev/http"
	delayLabel = "sim.kube-ship.dev/http-delay"
)

type pod struct {
	Metadata struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		UID               string            `json:"uid"`
		ResourceVersion   string            `json:"resourceVersion"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
		OwnerReferences   []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds"`
		Containers                    []struct {
			Image string `json:"image"`
			Ports []struct {
				ContainerPort int    `json:"containerPort"`
				Protocol      string `json:"protocol"`
			} `json:"ports"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (p *pod) key() string { return p.Metadata.Namespace + "/" + p.Metadata.Name }

func (p *pod) ready() bool {
	if p.Metadata.DeletionTimestamp != nil || p.Status.Phase != "Running" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func (p *pod) grace() time.Duration {
	s := int64(30)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		s = *p.Spec.TerminationGracePeriodSeconds
	}
	return min(time.Duration(s)*time.Second, *maxGrace)
}

// listener serves one address for whichever pod holds it now; the pod is swapped on updates.
type listener struct {
	addr    string
	ln      net.Listener
	srv     *http.Server
	mu      sync.Mutex
	pod     *pod
	closing *time.Timer
	svc     string // namespace/name for a Service's ClusterIP listener
}

func (l *listener) current() *pod { l.mu.Lock(); defer l.mu.Unlock(); return l.pod }

type service struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		ClusterIP string            `json:"clusterIP"`
		Selector  map[string]string `json:"selector"`
		Ports     []struct {
			Port     int    `json:"port"`
			Protocol string `json:"protocol"`
		} `json:"ports"`
	} `json:"spec"`
}

func (s *service) key() string { return s.Metadata.Namespace + "/" + s.Metadata.Name }

var (
	services   = map[string]*service{}
	draining   = map[string]time.Time{} // pod key -> until when a deleted/unready pod still serves
	lastPods   = map[string]*pod{}      // pods kept while draining
	roundRobin uint64
)

// pick chooses the pod a Service's request goes to, as kube-proxy would: a Ready pod matching
// the selector, else one still draining; nil when there is none.
func pick(svcKey string) *pod {
	mu.Lock()
	defer mu.Unlock()
	s := services[svcKey]
	if s == nil || len(s.Spec.Selector) == 0 {
		return nil
	}
	matches := func(p *pod) bool {
		if p.Metadata.Namespace != s.Metadata.Namespace {
			return false
		}
		for k, v := range s.Spec.Selector {
			if p.Metadata.Labels[k] != v {
				return false
			}
		}
		return true
	}
	var ready, serving []*pod
	for _, p := range pods {
		if matches(p) && p.ready() {
			ready = append(ready, p)
		}
	}
	now := time.Now()
	for k, until := range draining {
		if p := lastPods[k]; p != nil && now.Before(until) && matches(p) {
			serving = append(serving, p)
		}
	}
	if len(ready) == 0 {
		ready = serving
	}
	if len(ready) == 0 {
		return nil
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].Metadata.Name < ready[j].Metadata.Name })
	roundRobin++
	return ready[roundRobin%uint64(len(ready))]
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := l.current()
	if l.svc != "" {
		if p = pick(l.svc); p == nil {
			// No endpoint: what a client of kube-proxy sees is a refused connection.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
	image := ""
	if len(p.Spec.Containers) > 0 {
		image = p.Spec.Containers[0].Image
	}
	digest := ""
	if i := strings.LastIndex(image, "@"); i >= 0 {
		digest = image[i+1:]
	}
	owner := ""
	if len(p.Metadata.OwnerReferences) > 0 {
		owner = p.Metadata.OwnerReferences[0].Kind + "/" + p.Metadata.OwnerReferences[0].Name
	}
	if d, err := time.ParseDuration(p.Metadata.Labels[delayLabel]); err == nil && d > 0 {
		select {
		case <-time.After(min(d, time.Minute)):
		case <-r.Context().Done():
			return
		}
	}
	status := http.StatusOK
	if s, err := strconv.Atoi(p.Metadata.Labels[httpLabel]); err == nil && s >= 200 && s <= 599 {
		status = s
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Pod-Name", p.Metadata.Name)
	h.Set("X-Pod-Namespace", p.Metadata.Namespace)
	h.Set("X-Pod-Owner", owner)
	h.Set("X-Image-Digest", digest)
	h.Set("Connection", "close") // each request sees the pod that holds the address now
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"pod": p.Metadata.Name, "namespace": p.Metadata.Namespace, "owner": owner,
		"image": image, "digest": digest, "status": status, "path": r.URL.Path,
	})
}

var (
	server   = flag.String("server", "", "API server URL")
	caFile   = flag.String("ca", "", "CA file of the API server")
	certFile = flag.String("cert", "", "client certificate")
	keyFile  = flag.String("key", "", "client key")
	cidr     = flag.String("cidr", "127.64.0.0/16", "only pod IPs in this loopback range are served")
	svcCIDR  = flag.String("service-cidr", "127.96.0.0/16", "only Service ClusterIPs in this loopback range are served")
	sprefix  *net.IPNet
	maxGrace = flag.Duration("max-grace", 15*time.Second, "cap on serving a pod after it stops being Ready")

	mu        sync.Mutex
	pods      = map[string]*pod{}      // by namespace/name
	listeners = map[string]*listener{} // by ip:port
	prefix    *net.IPNet
)

func main() {
	flag.Parse()
	var err error
	if _, prefix, err = net.ParseCIDR(*cidr); err != nil || !prefix.IP.IsLoopback() {
		log.Fatalf("responder: --cidr %q must be a range inside 127.0.0.0/8", *cidr)
	}
	if _, sprefix, err = net.ParseCIDR(*svcCIDR); err != nil || !sprefix.IP.IsLoopback() {
		log.Fatalf("responder: --service-cidr %q must be a range inside 127.0.0.0/8", *svcCIDR)
	}
	client, err := newClient()
	if err != nil {
		log.Fatalf("responder: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Printf("responder: watching pods on %s, serving Ready pods in %s", *server, *cidr)
	go func() {
		for ctx.Err() == nil {
			if err := watchServices(ctx, client); err != nil && ctx.Err() == nil {
				log.Printf("responder: %v; listing services again in 1s", err)
				time.Sleep(time.Second)
			}
		}
	}()
	for ctx.Err() == nil {
		if err := watchPods(ctx, client); err != nil && ctx.Err() == nil {
			log.Printf("responder: %v; listing again in 1s", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
	mu.Lock()
	for _, l := range listeners {
		_ = l.srv.Close()
	}
	mu.Unlock()
}

func newClient() (*http.Client, error) {
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", *caFile)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}, nil
}

// watchPods lists every pod, then follows a watch from that list's resourceVersion until the
// server ends it or it fails; the caller lists again.
func watchPods(ctx context.Context, c *http.Client) error {
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []*pod `json:"items"`
	}
	if err := getJSON(ctx, c, *server+"/api/v1/pods", &list); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range list.Items {
		seen[p.key()] = true
		upsert(p)
	}
	mu.Lock()
	var gone []*pod
	for k, p := range pods {
		if !seen[k] {
			gone = append(gone, p)
		}
	}
	mu.Unlock()
	for _, p := range gone {
		remove(p)
	}
	q := url.Values{"watch": {"1"}, "resourceVersion": {list.Metadata.ResourceVersion}, "allowWatchBookmarks": {"true"}, "timeoutSeconds": {"300"}}
	req, _ := http.NewRequestWithContext(ctx, "GET", *server+"/api/v1/pods?"+q.Encode(), nil)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("watch pods: %s", res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return err
		}
		switch ev.Type {
		case "ADDED", "MODIFIED", "DELETED":
			p := &pod{}
			if err := json.Unmarshal(ev.Object, p); err != nil {
				return err
			}
			if ev.Type == "DELETED" {
				remove(p)
			} else {
				upsert(p)
			}
		case "ERROR":
			return fmt.Errorf("watch pods: %s", ev.Object)
		}
	}
	return sc.Err()
}

// watchServices keeps a listener on clusterIP:port for every Service in the service range.
func watchServices(ctx context.Context, c *http.Client) error {
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []*service `json:"items"`
	}
	if err := getJSON(ctx, c, *server+"/api/v1/services", &list); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range list.Items {
		seen[s.key()] = true
		upsertService(s)
	}
	mu.Lock()
	var gone []*service
	for k, s := range services {
		if !seen[k] {
			gone = append(gone, s)
		}
	}
	mu.Unlock()
	for _, s := range gone {
		removeService(s)
	}
	q := url.Values{"watch": {"1"}, "resourceVersion": {list.Metadata.ResourceVersion}, "timeoutSeconds": {"300"}}
	req, _ := http.NewRequestWithContext(ctx, "GET", *server+"/api/v1/services?"+q.Encode(), nil)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("watch services: %s", res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return err
		}
		s := &service{}
		switch ev.Type {
		case "ADDED", "MODIFIED":
			if err := json.Unmarshal(ev.Object, s); err != nil {
				return err
			}
			upsertService(s)
		case "DELETED":
			if err := json.Unmarshal(ev.Object, s); err != nil {
				return err
			}
			removeService(s)
		case "ERROR":
			return fmt.Errorf("watch services: %s", ev.Object)
		}
	}
	return sc.Err()
}

func serviceAddrs(s *service) []string {
	ip := net.ParseIP(s.Spec.ClusterIP)
	if ip == nil || !sprefix.Contains(ip) {
		return nil
	}
	var out []string
	for _, p := range s.Spec.Ports {
		if p.Protocol == "" || p.Protocol == "TCP" {
			out = append(out, net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(p.Port)))
		}
	}
	return out
}

func upsertService(s *service) {
	mu.Lock()
	defer mu.Unlock()
	services[s.key()] = s
	for _, a := range serviceAddrs(s) {
		if listeners[a] == nil {
			if l := listen(a); l != nil {
				l.svc = s.key()
				listeners[a] = l
				log.Printf("responder: serving %s as Service %s", a, s.key())
			}
		}
	}
}

func removeService(s *service) {
	mu.Lock()
	defer mu.Unlock()
	delete(services, s.key())
	for _, a := range serviceAddrs(s) {
		if l := listeners[a]; l != nil && l.svc == s.key() {
			delete(listeners, a)
			_ = l.srv.Close()
		}
	}
}

func getJSON(ctx context.Context, c *http.Client, u string, into any) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(into)
}

func addrsOf(p *pod) []string {
	ip := net.ParseIP(p.Status.PodIP)
	if ip == nil || !prefix.Contains(ip) {
		return nil
	}
	var out []string
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Protocol == "" || port.Protocol == "TCP" {
				out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port.ContainerPort)))
			}
		}
	}
	return out
}

func upsert(p *pod) {
	mu.Lock()
	defer mu.Unlock()
	old := pods[p.key()]
	pods[p.key()] = p
	if p.ready() {
		for _, a := range addrsOf(p) {
			l := listeners[a]
			if l == nil {
				if l = listen(a); l == nil {
					continue
				}
				listeners[a] = l
				log.Printf("responder: serving %s as %s", a, p.key())
			}
			l.mu.Lock()
			l.pod = p
			if l.closing != nil {
				l.closing.Stop()
				l.closing = nil
			}
			l.mu.Unlock()
		}
		return
	}
	// Not Ready (any more): keep serving what this pod held, for its grace period.
	if old != nil {
		if old.ready() {
			lastPods[p.key()], draining[p.key()] = p, time.Now().Add(old.grace())
		}
		drain(old, p)
	}
}

func remove(p *pod) {
	mu.Lock()
	defer mu.Unlock()
	old := pods[p.key()]
	delete(pods, p.key())
	if old == nil {
		old = p
	}
	if old.Status.Phase == "Running" {
		lastPods[p.key()], draining[p.key()] = p, time.Now().Add(old.grace())
	}
	for k, until := range draining {
		if time.Now().After(until) {
			delete(draining, k)
			delete(lastPods, k)
		}
	}
	drain(old, p)
}

// drain closes old's listeners after the grace period unless another pod took the address over.
// Callers hold mu.
func drain(old, latest *pod) {
	for _, a := range addrsOf(old) {
		l := listeners[a]
		if l == nil {
			continue
		}
		l.mu.Lock()
		if l.pod.Metadata.UID == old.Metadata.UID && l.closing == nil {
			l.pod = latest // labels may have changed too
			if len(l.pod.Spec.Containers) == 0 {
				l.pod = old
			}
			addr, grace := a, old.grace()
			l.closing = time.AfterFunc(grace, func() {
				mu.Lock()
				defer mu.Unlock()
				if listeners[addr] == l {
					l.mu.Lock()
					stillMine := l.closing != nil
					l.mu.Unlock()
					if stillMine {
						delete(listeners, addr)
						_ = l.srv.Close()
						log.Printf("responder: stopped serving %s (%s, after %s)", addr, old.key(), grace)
					}
				}
			})
		}
		l.mu.Unlock()
	}
}

func listen(addr string) *listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Printf("responder: cannot listen on %s: %v", addr, err)
		return nil
	}
	l := &listener{addr: addr, ln: ln}
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	return l
}
