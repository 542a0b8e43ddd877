package cpus

import (
	"runtime"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// hybrid is the mountinfo of a cgroup v1 system with the unified (v2)
// hierarchy mounted beside it, as on the development VM.
const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const pureV2 = `25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLimit(t *testing.T) {
	cases := []struct {
		name  string
		files fstest.MapFS
		want  int
	}{
		{"no proc", fstest.MapFS{}, 0},
		{"v2, no limit", fstest.MapFS{
			"proc/self/cgroup":           file("0::/user.slice/job\n"),
			"proc/self/mountinfo":        file(pureV2),
			"sys/fs/cgroup/cpu.max":      file("max 100000\n"),
			"sys/fs/cgroup/user.slice/x": file(""),
		}, 0},
		{"v2, limit on the cgroup", fstest.MapFS{
			"proc/self/cgroup":                        file("0::/user.slice/job\n"),
			"proc/self/mountinfo":                     file(pureV2),
			"sys/fs/cgroup/user.slice/job/cpu.max":    file("150000 100000\n"),
			"sys/fs/cgroup/user.slice/cpu.max":        file("max 100000\n"),
			"sys/fs/cgroup/user.slice/job/cpu.weight": file("100\n"),
		}, 2},
		{"v2, a parent's limit is tighter", fstest.MapFS{
			"proc/self/cgroup":                     file("0::/user.slice/job\n"),
			"proc/self/mountinfo":                  file(pureV2),
			"sys/fs/cgroup/user.slice/job/cpu.max": file("400000 100000\n"),
			"sys/fs/cgroup/user.slice/cpu.max":     file("50000 100000\n"),
		}, 1},
		{"v2 in a container without a cgroup namespace", fstest.MapFS{
			"proc/self/cgroup":      file("0::/system.slice/docker-abc.scope\n"),
			"proc/self/mountinfo":   file("26 25 0:23 /system.slice/docker-abc.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"),
			"sys/fs/cgroup/cpu.max": file("300000 100000\n"),
		}, 3},
		{"v2, path outside the mount's root", fstest.MapFS{
			"proc/self/cgroup":      file("0::/elsewhere\n"),
			"proc/self/mountinfo":   file("26 25 0:23 /system.slice/docker-abc.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"),
			"sys/fs/cgroup/cpu.max": file("300000 100000\n"),
		}, 0},
		{"v1 hybrid, no limit", fstest.MapFS{
			"proc/self/cgroup":                               file("4:memory:/job\n2:cpu,cpuacct:/\n0::/\n"),
			"proc/self/mountinfo":                            file(hybrid),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":     file("-1\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us":    file("100000\n"),
			"sys/fs/cgroup/unified/cpu.max":                  file("garbage"),
			"sys/fs/cgroup/memory/job/memory.limit_in_bytes": file("1000"),
		}, 0},
		{"v1 hybrid, limit", fstest.MapFS{
			"proc/self/cgroup":    file("2:cpu,cpuacct:/slurm/job7\n0::/\n"),
			"proc/self/mountinfo": file(hybrid),
			"sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_quota_us":  file("250000\n"),
			"sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_period_us": file("100000\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":             file("-1\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us":            file("100000\n"),
		}, 3},
		{"v1, mount point with a space", fstest.MapFS{
			"proc/self/cgroup":            file("1:cpu:/\n"),
			"proc/self/mountinfo":         file(`32 31 0:29 / /cg\040v1/cpu rw - cgroup cgroup rw,cpu` + "\n"),
			"cg v1/cpu/cpu.cfs_quota_us":  file("100000"),
			"cg v1/cpu/cpu.cfs_period_us": file("100000"),
		}, 1},
		{"v1 and v2 limits: the tighter", fstest.MapFS{
			"proc/self/cgroup":                            file("2:cpu,cpuacct:/\n0::/j\n"),
			"proc/self/mountinfo":                         file(hybrid),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  file("800000"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": file("100000"),
			"sys/fs/cgroup/unified/j/cpu.max":             file("200000 100000"),
		}, 2},
		{"malformed files", fstest.MapFS{
			"proc/self/cgroup":                            file("garbage\n2:cpu\n::\n"),
			"proc/self/mountinfo":                         file("nonsense - \n1 2 3\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  file("100000"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": file("0"),
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, limit(c.files))
		})
	}
}

func TestCPUMax(t *testing.T) {
	require.Zero(t, cpuMax("max 100000\n"))
	require.Equal(t, 2.0, cpuMax("200000 100000\n"))
	require.Equal(t, 1.5, cpuMax("150000 100000"))
	require.Zero(t, cpuMax("garbage"))
	require.Zero(t, cpuMax("-5 100000"))
	require.Zero(t, cpuMax("5 0"))
}

func TestParseList(t *testing.T) {
	for s, want := range map[string]int{
		"0\n": 1, "0-1\n": 2, "0-3,8,10-11": 7, "": 0, "x": 0, "3-1": 0, "0-": 0, "-1": 0,
	} {
		require.Equal(t, want, parseList(s), "%q", s)
	}
}

func TestUnescape(t *testing.T) {
	require.Equal(t, "/a b", unescape(`/a\040b`))
	require.Equal(t, `/a\0`, unescape(`/a\0`))
	require.Equal(t, `/a\999`, unescape(`/a\999`))
	require.Equal(t, "/plain", unescape("/plain"))
}

// TestHost checks the functions that read the machine's own files: a
// limit, when there is one, is a whole number of CPUs, and at least one CPU
// is online, no fewer than the process may run on.
func TestHost(t *testing.T) {
	require.GreaterOrEqual(t, Limit(), 0)
	require.GreaterOrEqual(t, Online(), runtime.NumCPU())
}

// FuzzLimit feeds arbitrary /proc files: the result is never negative and
// never a panic.
func FuzzLimit(f *testing.F) {
	f.Add("2:cpu,cpuacct:/a\n0::/b\n", hybrid, "150000", "100000", "300000 100000")
	f.Add("0::/", pureV2, "", "", "max 100000")
	f.Fuzz(func(t *testing.T, cgroup, mountinfo, q, p, max string) {
		files := fstest.MapFS{
			"proc/self/cgroup":                              file(cgroup),
			"proc/self/mountinfo":                           file(mountinfo),
			"sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us":  file(q),
			"sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us": file(p),
			"sys/fs/cgroup/unified/b/cpu.max":               file(max),
			"sys/fs/cgroup/cpu.max":                         file(max),
		}
		require.GreaterOrEqual(t, limit(files), 0)
	})
}
