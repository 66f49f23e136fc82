// Command pulumi-language-python is k2infra's own Python language host for the
// Pulumi engine.
//
// Why it exists: upstream's host is its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), and the
// Go module proxy reachable from our machines refuses every version of it. The
// protocol types, the virtualenv/pip/uv/poetry handling and the Python-side
// runner script all ship in github.com/pulumi/pulumi/sdk/v3, which is served,
// so this host only wires those pieces to the gRPC LanguageRuntime service.
//
// Scope: running programs (Run), plugin discovery from installed SDK packages
// (GetRequiredPackages), policy packs and Python plugins (RunPlugin),
// `pulumi install` (InstallDependencies), `pulumi about` data. Code generation
// (GenerateProgram/Project/Package, Pack, Link, Template) is not implemented:
// k2infra never asks the CLI to generate Python code.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is stamped by tools/install-pulumi.sh (-ldflags -X main.version=...).
var version = "0.0.0-dev"

// execScriptName is the runner shipped in the sdk/v3 module (python/cmd/); the
// install script copies it next to this binary.
const execScriptName = "pulumi-language-python-exec"

// exitCodeUserError is what the runner exits with after it has already shown
// the user an actionable message, so the engine should not add another one.
const exitCodeUserError = 32

func main() {
	// The engine passes only its address, but accept upstream's flags so that
	// tooling written for the upstream host keeps working.
	flag.String("tracing", "", "ignored: tracing endpoint")
	flag.String("root", "", "ignored: project root")
	flag.Parse()

	engineAddress := ""
	if flag.NArg() > 0 {
		engineAddress = flag.Arg(flag.NArg() - 1)
	}

	execScript, err := findExecScript()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	// The engine stops a plugin with SIGINT and kills it only 5 s later. A process
	// started with SIGINT ignored (a background job of a non-interactive shell,
	// some CI runners) hands the ignore down, and Go keeps an inherited ignore
	// unless the signal is asked for: every pulumi command then waited those 5 s
	// per language host. Ask for it and stop serving, as provider.Main does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()

	watchEngine() // exit, with the programs it runs, once the engine is gone (parentwatch.go)

	h := &host{engineAddress: engineAddress, execScript: execScript}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}

	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host RPC stopped serving: %v\n", err)
		os.Exit(1)
	}
}

func findExecScript() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating pulumi-language-python: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	script := filepath.Join(filepath.Dir(self), execScriptName)
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("%s must sit next to pulumi-language-python (run tools/install-pulumi.sh): %w",
			execScriptName, err)
	}
	return script, nil
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	execScript    string
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// programInfo fills in a ProgramInfo for engines that still send only pwd/program.
func programInfo(info *pulumirpc.ProgramInfo, pwd, program string) *pulumirpc.ProgramInfo {
	if info != nil && info.GetProgramDirectory() != "" {
		return info
	}
	dir := pwd
	if program != "" && program != "." {
		dir = filepath.Join(pwd, program)
	}
	return &pulumirpc.ProgramInfo{RootDirectory: pwd, ProgramDirectory: dir, EntryPoint: "."}
}

// resolveToolchain reads the `runtime.options` of Pulumi.yaml / PulumiPolicy.yaml
// (virtualenv, toolchain) the same way upstream documents them.
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Auto,
	}
	if info.GetOptions() != nil {
		raw := info.GetOptions().AsMap()
		if v, ok := raw["virtualenv"].(string); ok {
			opts.Virtualenv = v
		}
		switch raw["toolchain"] {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "uv":
			opts.Toolchain = toolchain.Uv
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case nil, "":
		default:
			return nil, fmt.Errorf("unsupported python toolchain %v (use pip, uv or poetry)", raw["toolchain"])
		}
		if tc, ok := raw["typechecker"].(string); ok && tc != "" {
			return nil, fmt.Errorf("runtime option typechecker=%q is not supported by this language host", tc)
		}
	}
	return toolchain.ResolveToolchain(opts)
}

// pluginScan lists every installed distribution that ships a top-level
// pulumi-plugin.json, i.e. Pulumi provider SDKs such as pulumi_kafka.
const pluginScan = `
import importlib.metadata as md, json, sys
found = {}
for dist in md.distributions():
    for f in dist.files or []:
        if f.name != "pulumi-plugin.json" or len(f.parts) != 2:
            continue
        try:
            data = json.loads(f.read_text() or "{}")
        except (OSError, ValueError):
            continue
        if not data.get("resource"):
            continue
        pkg = f.parts[0]
        name = data.get("name") or (pkg[len("pulumi_"):] if pkg.startswith("pulumi_") else pkg)
        found[name] = {"name": name, "version": data.get("version") or dist.version,
                       "server": data.get("server") or ""}
json.dump(list(found.values()), sys.stdout)
`

type pluginJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Server  string `json:"server"`
}

func requiredPlugins(ctx context.Context, info *pulumirpc.ProgramInfo) ([]pluginJSON, error) {
	tc, err := resolveToolchain(info)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", pluginScan)
	if err != nil {
		return nil, err
	}
	cmd.Dir = info.GetProgramDirectory()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing Pulumi plugins of installed Python packages: %w: %s", err, stderr.String())
	}
	var plugins []pluginJSON
	if err := json.Unmarshal(out, &plugins); err != nil {
		return nil, fmt.Errorf("parsing plugin list: %w", err)
	}
	return plugins, nil
}

func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	plugins, err := requiredPlugins(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range plugins {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: p.Name, Kind: "resource", Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *host) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	plugins, err := requiredPlugins(ctx, programInfo(req.GetInfo(), req.GetPwd(), req.GetProgram()))
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range plugins {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: "resource", Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

// childEnv returns base (or the host's environment) with the toolchain's
// virtualenv activated, so the program, pip and dynamic providers agree on it.
func childEnv(ctx context.Context, tc toolchain.Toolchain, base []string) []string {
	if len(base) == 0 {
		base = os.Environ()
	}
	venv, err := tc.VirtualEnvPath(ctx)
	if err == nil && venv != "" && toolchain.IsVirtualEnv(venv) {
		return toolchain.ActivateVirtualEnv(base, venv)
	}
	return base
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := programInfo(req.GetInfo(), req.GetPwd(), req.GetProgram())
	tc, err := resolveToolchain(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	program := filepath.Join(info.GetProgramDirectory(), entry)
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = info.GetProgramDirectory()
	}

	args := []string{"-u", h.execScript}
	flagArg := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", h.engine())
	flagArg("project", req.GetProject())
	flagArg("stack", req.GetStack())
	flagArg("pwd", pwd)
	flagArg("dry_run", strconv.FormatBool(req.GetDryRun()))
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	flagArg("organization", req.GetOrganization())
	flagArg("root_directory", info.GetRootDirectory())
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	// The runner expects a JSON object and array: nil would encode as null.
	configMap, keys := req.GetConfig(), req.GetConfigSecretKeys()
	if configMap == nil {
		configMap = map[string]string{}
	}
	if keys == nil {
		keys = []string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	secretKeys, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret config keys: %w", err)
	}

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	cmd.Dir = pwd
	cmd.Env = append(childEnv(ctx, tc, nil),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	// Inherited stdout/stderr are streamed by the engine to the user.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := children.run(cmd); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitCodeUserError {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start python: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter forwards a child's output as RunPlugin messages; gRPC streams
// are not safe for concurrent Send, hence the shared mutex.
type streamWriter struct {
	mu     *sync.Mutex
	send   func(*pulumirpc.RunPluginResponse) error
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	chunk := append([]byte(nil), p...)
	msg := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: chunk}}
	if w.stderr {
		msg = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: chunk}}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RunPlugin starts a plugin written in Python. The engine uses it for policy
// packs (kind "analyzer") whenever this language host is installed, instead of
// the older pulumi-analyzer-policy-python launcher.
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	ctx := server.Context()
	info := programInfo(req.GetInfo(), req.GetPwd(), req.GetProgram())
	tc, err := resolveToolchain(info)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}

	program := info.GetProgramDirectory()
	if e := info.GetEntryPoint(); e != "" && e != "." {
		program = filepath.Join(program, e)
	}
	var args []string
	if req.GetKind() == "analyzer" {
		// pulumi.policy (in the pulumi SDK) applies config/stack settings from
		// the environment, then runs the pack; its PolicyPack prints the port.
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, program)
	} else {
		args = append([]string{"-u", program}, req.GetArgs()...)
	}

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}
	cmd.Dir = req.GetPwd()
	cmd.Env = childEnv(ctx, tc, req.GetEnv())
	var mu sync.Mutex
	cmd.Stdout = streamWriter{mu: &mu, send: server.Send}
	cmd.Stderr = streamWriter{mu: &mu, send: server.Send, stderr: true}

	code := 0
	if err := children.run(cmd); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("starting python plugin %s: %w", program, err)
		}
		code = exitErr.ExitCode()
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

type installWriter struct {
	mu     *sync.Mutex
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
	stderr bool
}

func (w installWriter) Write(p []byte) (int, error) {
	chunk := append([]byte(nil), p...)
	msg := &pulumirpc.InstallDependenciesResponse{Stdout: chunk}
	if w.stderr {
		msg = &pulumirpc.InstallDependenciesResponse{Stderr: chunk}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.server.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	info := programInfo(req.GetInfo(), req.GetDirectory(), "")
	tc, err := resolveToolchain(info)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var out, errOut io.Writer = installWriter{&mu, server, false}, installWriter{&mu, server, true}
	return tc.InstallDependencies(server.Context(), info.GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, out, errOut)
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	about, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: about.PythonExecutable,
		Version:    about.PythonVersion.String(),
		Metadata:   map[string]string{"toolchainVersion": about.ToolchainVersion.String()},
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolveToolchain(programInfo(req.GetInfo(), req.GetPwd(), req.GetProgram()))
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	// No interactive prompts: `pulumi new` is not part of k2infra's workflow.
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
