package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/admin/awsprofile"
)

func (a *app) configureCmd() *cobra.Command {
	var profile, endpoint string
	c := &cobra.Command{
		Use:   "configure ACCESS_KEY_ID --profile NAME [--endpoint URL]",
		Short: "Write an aws CLI profile for an access key (secret from stdin or a prompt)",
		Long: "configure writes [profile NAME] (region auto, endpoint_url, path-style addressing) to the\n" +
			"aws config file and [NAME] with the key pair to the credentials file ($AWS_CONFIG_FILE,\n" +
			"$AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials). Other profiles\n" +
			"and comments are kept as they are. The secret is read from standard input when it is not a\n" +
			"terminal, else prompted for without echo; it is never taken from the command line, where\n" +
			"other users could read it in the process list. It does not contact excd.",
		Args: exactArgs("ACCESS_KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if profile == "" {
				return usagef("configure: --profile NAME is required")
			}
			u, err := url.Parse(endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("configure: --endpoint %q is not an http(s) URL", endpoint)
			}
			p := awsprofile.Profile{Name: profile, AccessKeyID: args[0], Endpoint: endpoint}
			if !strings.HasPrefix(p.AccessKeyID, "EXC") {
				fmt.Fprintf(a.stderr, "exc: warning: %s does not look like an excd access key (EXC…)\n", p.AccessKeyID)
			}
			if p.SecretAccessKey, err = a.readSecret(p.AccessKeyID); err != nil {
				return err
			}
			if err := p.Validate(); err != nil {
				return usageError{fmt.Errorf("configure: %w", err)}
			}
			cfgPath, credPath, err := awsprofile.Paths(a.getenv)
			if err != nil {
				return err
			}
			if err := awsprofile.Write(cfgPath, credPath, p); err != nil {
				return fmt.Errorf("configure profile %s: %w", profile, err)
			}
			if a.jsonOut {
				return a.printJSON(map[string]string{"profile": profile, "access_key_id": p.AccessKeyID,
					"endpoint_url": endpoint, "config_file": cfgPath, "credentials_file": credPath})
			}
			_, err = fmt.Fprintf(a.stdout, "profile %s written to %s and %s\ntry: aws --profile %s s3 ls\n",
				profile, cfgPath, credPath, profile)
			return err
		},
	}
	c.Flags().StringVar(&profile, "profile", "", "aws CLI profile `NAME` to write (required)")
	c.Flags().StringVar(&endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint `URL` of excd")
	return c
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
