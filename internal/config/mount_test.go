package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMount(t *testing.T) {
	def := DefaultMountOptions()
	with := func(f func(*MountOptions)) MountOptions { o := def; f(&o); return o }
	cases := []struct {
		spec string
		want Mount
	}{
		{"/mnt/a", Mount{Dir: "/mnt/a", Options: def}},
		{"acme=/mnt/a", Mount{Org: "acme", Dir: "/mnt/a", Options: def}},
		{"acme=/mnt/a:uid=1000:gid=100:umask=027:allow_other", Mount{Org: "acme", Dir: "/mnt/a", Options: with(func(o *MountOptions) {
			o.UID, o.GID, o.Umask, o.AllowOther = 1000, 100, 0o027, true
		})}},
		{"/mnt/a:trust_s3_attrs:allow_other=false", Mount{Dir: "/mnt/a", Options: with(func(o *MountOptions) { o.TrustS3Attrs = true })}},
		{"/mnt/a:uid=root:gid=root", Mount{Dir: "/mnt/a", Options: with(func(o *MountOptions) { o.UID, o.GID = 0, 0 })}},
		// A ":" not followed by an option name is part of the directory.
		{"/mnt/a:b", Mount{Dir: "/mnt/a:b", Options: def}},
		{"acme=/mnt/x:y:umask=0", Mount{Org: "acme", Dir: "/mnt/x:y", Options: with(func(o *MountOptions) { o.Umask = 0 })}},
	}
	for _, tc := range cases {
		got, err := ParseMount(tc.spec, def)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMount(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	// Options override the defaults given, one by one.
	base := MountOptions{UID: 5, GID: 6, Umask: 0o022, AllowOther: true, TrustS3Attrs: true}
	got, err := ParseMount("/m:allow_other=false:uid=7", base)
	want := base
	want.AllowOther, want.UID = false, 7
	if err != nil || got.Options != want {
		t.Errorf("overrides: %+v %v, want %+v", got.Options, err, want)
	}
	for spec, msg := range map[string]string{
		"/m:uid=x-no-such-user":  "option uid",
		"/m:umask=999":           "invalid umask",
		"/m:umask=1777":          "invalid umask",
		"/m:allow_other=perhaps": "want true or false",
		"=/m":                    "empty org",
		"acme=":                  "empty mount point",
		"acme=:allow_other":      "empty mount point",
		"/m:uid=4294967295":      "invalid id",
	} {
		if _, err := ParseMount(spec, def); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseMount(%q): %v, want an error with %q", spec, err, msg)
		}
	}
}

// The owner model's keys have the three forms every key has, and a bad
// mount entry stops the load naming its source.
func TestMountKeys(t *testing.T) {
	c, err := load(t, `
mount_uid = "1000"
mount_gid = "nogroup"
mount_umask = "027"
mount_trust_s3_attrs = "true"
mounts = ["acme=/srv/a:uid=2000", "/srv/b"]
`, map[string]string{"EXC_MOUNT_UMASK": "022", "EXC_MOUNT_ALLOW_OTHER": "true"}, "--mount-uid=3000", "--mount-trust-s3-attrs=false")
	if err != nil {
		t.Fatal(err)
	}
	want := MountOptions{UID: 3000, GID: 65534, Umask: 0o022, AllowOther: true}
	if c.Mount != want {
		t.Fatalf("mount options %+v, want %+v", c.Mount, want)
	}
	if m, err := ParseMount(c.Mounts[0], c.Mount); err != nil || m.Options.UID != 2000 || m.Options.Umask != 0o022 {
		t.Fatalf("first mount %+v %v", m, err)
	}
	// A boolean flag alone is true.
	c, err = load(t, "", nil, "--mount-allow-other")
	if err != nil || !c.Mount.AllowOther {
		t.Fatalf("--mount-allow-other: %+v %v", c.Mount, err)
	}
	for _, tc := range []struct {
		file string
		env  map[string]string
		args []string
		msg  string
	}{
		{`mounts = ["/m:umask=8"]`, nil, nil, `key "mounts"`},
		{"", map[string]string{"EXC_MOUNTS": "/a,/b:allow_other=maybe"}, nil, "EXC_MOUNTS"},
		{"", nil, []string{"--mount", "/a", "--mount", "/a:allow_other"}, "given twice"},
		{`mount_umask = "rw"`, nil, nil, `key "mount_umask"`},
		{"", map[string]string{"EXC_MOUNT_UID": "no-such-user-here"}, nil, "EXC_MOUNT_UID"},
	} {
		if _, err := load(t, tc.file, tc.env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q %v %v: %v, want an error naming %q", tc.file, tc.env, tc.args, err, tc.msg)
		}
	}
}
