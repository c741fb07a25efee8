package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/admin/awsprofile"
	"excloud.dev/buckets/admin/clientconf"
)

func (a *app) configureCmd() *cobra.Command {
	var profile, endpoint, format string
	var write bool
	c := &cobra.Command{
		Use:   "configure ACCESS_KEY_ID --profile NAME [--endpoint URL] [--format aws|rclone|s3cmd|env|boto3 [--write]]",
		Short: "Configure an S3 client (aws CLI, rclone, s3cmd, env, boto3) for an access key",
		Long: "configure sets up an S3 client for an access key. The secret is read from standard input\n" +
			"(one line) when it is not a terminal, as in printf '%s\\n' \"$SECRET\" | exc keys configure …,\n" +
			"else prompted for without echo; it is never taken from the command line, where other users\n" +
			"could read it in the process list. It does not contact excd.\n\n" +
			"--format aws (the default) writes [profile NAME] (region auto, endpoint_url, path-style\n" +
			"addressing) to the aws config file and [NAME] with the key pair to the credentials file\n" +
			"($AWS_CONFIG_FILE, $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials),\n" +
			"then prints the command to try with the aws CLI on PATH: aws CLI versions before 2.13\n" +
			"ignore endpoint_url in a profile, so for them (or an unknown version) it passes --endpoint-url.\n\n" +
			"The other formats print to standard output: --format rclone a remote named NAME for\n" +
			"rclone.conf, s3cmd a .s3cfg, env shell exports (AWS_ENDPOINT_URL and friends), boto3 a\n" +
			"Python snippet. With --write, rclone's remote goes into its config file ($RCLONE_CONFIG,\n" +
			"else ~/.config/rclone/rclone.conf) and s3cmd's settings into the [default] section of\n" +
			"$S3CMD_CONFIG, else ~/.s3cfg; other remotes, settings and comments are kept as they are,\n" +
			"and the files are made readable by their owner only.",
		Args: exactArgs("ACCESS_KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			named := format == "aws" || format == "rclone"
			switch {
			case !slices.Contains(clientconf.Formats, format):
				return usagef("configure: --format %q is not one of %s", format, strings.Join(clientconf.Formats, ", "))
			case named && profile == "":
				return usagef("configure: --profile NAME is required")
			case write && format != "rclone" && format != "s3cmd" && format != "aws":
				return usagef("configure: --format %s has no config file to --write; it prints", format)
			}
			if !named {
				profile = "" // the name goes nowhere in these formats
			}
			k := clientconf.Key{Name: profile, AccessKeyID: args[0], Endpoint: endpoint}
			u, err := url.Parse(endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("configure: --endpoint %q is not an http(s) URL", endpoint)
			}
			if !strings.HasPrefix(k.AccessKeyID, "EXC") {
				fmt.Fprintf(a.stderr, "exc: warning: %s does not look like an excd access key (EXC…)\n", k.AccessKeyID)
			}
			if k.SecretAccessKey, err = a.readSecret(k.AccessKeyID); err != nil {
				return err
			}
			if err := k.Validate(); err != nil {
				return usageError{fmt.Errorf("configure: %w", err)}
			}
			switch {
			case format == "aws":
				return a.configureAWS(cmd.Context(), k)
			case write:
				return a.writeClientConf(format, k)
			}
			text := map[string]func(clientconf.Key) string{
				"rclone": clientconf.Rclone, "s3cmd": clientconf.S3cmd, "env": clientconf.Env, "boto3": clientconf.Boto3,
			}[format](k)
			if a.jsonOut {
				return a.printJSON(map[string]string{"format": format, "access_key_id": k.AccessKeyID, "config": text})
			}
			_, err = io.WriteString(a.stdout, text)
			return err
		},
	}
	c.Flags().StringVar(&profile, "profile", "", "aws CLI profile or rclone remote `NAME` to write (required for aws and rclone)")
	c.Flags().StringVar(&endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint `URL` of excd")
	c.Flags().StringVar(&format, "format", "aws", "client to configure: aws, rclone, s3cmd, env or boto3")
	c.Flags().BoolVar(&write, "write", false, "write rclone's or s3cmd's config file instead of printing (aws always writes)")
	return c
}

func (a *app) configureAWS(ctx context.Context, k clientconf.Key) error {
	p := awsprofile.Profile{Name: k.Name, AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Endpoint: k.Endpoint}
	cfgPath, credPath, err := awsprofile.Paths(a.getenv)
	if err != nil {
		return err
	}
	if err := awsprofile.Write(cfgPath, credPath, p); err != nil {
		return fmt.Errorf("configure profile %s: %w", p.Name, err)
	}
	v := awsCLIVersion(ctx, a.getenv("PATH"))
	if a.jsonOut {
		return a.printJSON(map[string]string{"profile": p.Name, "access_key_id": p.AccessKeyID,
			"endpoint_url": p.Endpoint, "config_file": cfgPath, "credentials_file": credPath, "aws_cli_version": v.Text})
	}
	_, err = fmt.Fprintf(a.stdout, "profile %s written to %s and %s\n%s",
		p.Name, cfgPath, credPath, clientconf.AWSHint(p.Name, p.Endpoint, v))
	return err
}

func (a *app) writeClientConf(format string, k clientconf.Key) error {
	pathOf, write, hint := clientconf.RclonePath, clientconf.WriteRclone, "try: rclone lsd "+k.Name+":"
	what := "rclone remote " + k.Name
	if format == "s3cmd" {
		pathOf, write, hint, what = clientconf.S3cmdPath, clientconf.WriteS3cmd, "try: s3cmd ls", "s3cmd settings"
	}
	path, err := pathOf(a.getenv)
	if err != nil {
		return err
	}
	if err := write(path, k); err != nil {
		return fmt.Errorf("configure %s: %w", format, err)
	}
	if a.jsonOut {
		return a.printJSON(map[string]string{"format": format, "access_key_id": k.AccessKeyID, "file": path})
	}
	if format == "s3cmd" && path != filepath.Join(a.getenv("HOME"), ".s3cfg") && a.getenv("S3CMD_CONFIG") == "" {
		hint = "try: s3cmd -c " + path + " ls"
	}
	_, err = fmt.Fprintf(a.stdout, "%s written to %s\n%s\n", what, path, hint)
	return err
}

// awsCLIVersion runs `aws --version` for the first aws on path; the zero
// version when there is none or it says nothing readable. A hung or slow
// aws (v1 starts a Python interpreter) costs at most the timeout.
func awsCLIVersion(ctx context.Context, path string) clientconf.AWSCLIVersion {
	bin := ""
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue // not the current directory: it is not what a shell runs
		}
		if fi, err := os.Stat(filepath.Join(dir, "aws")); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			bin = filepath.Join(dir, "aws")
			break
		}
	}
	if bin == "" {
		return clientconf.AWSCLIVersion{}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	v, _ := clientconf.ParseAWSCLIVersion(string(out))
	return v
}

// readSecret reads the secret: one line from stdin, after a prompt with
// echo off when stdin is a terminal.
func (a *app) readSecret(keyID string) (string, error) {
	if f, ok := a.stdin.(*os.File); ok {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			return promptNoEcho(f, a.stderr, t, "Secret access key for "+keyID+": ")
		}
	}
	line, err := readLine(a.stdin)
	if err != nil {
		return "", fmt.Errorf("reading the secret from standard input: %w", err)
	}
	if line == "" {
		return "", usagef("configure: no secret on standard input")
	}
	return line, nil
}

// readLine returns the first line of r without its line ending. Reading
// stops there, so nothing after the secret is consumed.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// promptNoEcho turns terminal echo off (restoring it afterwards) and reads a
// line. golang.org/x/term would do this, but x/sys is already a dependency
// and the ioctl pair is all it takes on Linux.
func promptNoEcho(tty *os.File, prompt io.Writer, old *unix.Termios, text string) (string, error) {
	fd := int(tty.Fd())
	fmt.Fprint(prompt, text)
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ECHONL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", fmt.Errorf("turning off terminal echo: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	line, err := readLine(tty)
	if err != nil {
		return "", fmt.Errorf("reading the secret: %w", err)
	}
	if line == "" {
		return "", usagef("configure: empty secret")
	}
	return line, nil
}
