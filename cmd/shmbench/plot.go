package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/shmpar/shmpar/bench"
)

// backendStyle gives each team backend a color and dash pattern that every
// panel shares.
var backendStyle = map[string]struct {
	color color.Color
	dash  []vg.Length
}{
	bench.BackendProcess:   {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, nil},
	bench.BackendGoroutine: {color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, []vg.Length{vg.Points(4), vg.Points(2)}},
}

// plotResults draws, for each kernel, speedup against workers per team
// backend with the ideal (speedup = workers) line, and one panel of GB/s
// against workers for the bandwidth kernels; the format follows the file
// name's extension (.svg or .png).
func plotResults(file string, rs []bench.Result) error {
	var kernels []string
	for _, r := range rs {
		if r.Backend != bench.BackendSerial && !slices.Contains(kernels, r.Kernel) {
			kernels = append(kernels, r.Kernel)
		}
	}
	if len(kernels) == 0 {
		return errors.New("nothing to plot: no team rows (the serial backend alone has no speedup)")
	}
	var panels []*plot.Plot
	for _, k := range kernels {
		plotFn := speedupPlot
		if overhead(k, rs) {
			plotFn = callTimePlot
		}
		p, err := plotFn(k, rs)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if p, err := bandwidthPlot(rs); err != nil {
		return err
	} else if p != nil {
		panels = append(panels, p)
	}

	const cols = 3
	rows := (len(panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		grid[i/cols][i%cols] = p
	}
	w, h := vg.Length(cols)*3.2*vg.Inch, vg.Length(rows)*2.6*vg.Inch
	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(120), vgimg.UseBackgroundColor(color.White))}
	default:
		return fmt.Errorf("%s: the file name must end in .svg or .png", file)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	cs := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(cs[i][j])
			}
		}
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", file, err)
	}
	return f.Close()
}

// overhead reports whether kernel's rows are of the overhead class (empty),
// whose speedup means nothing: its panel shows the time per call instead.
func overhead(kernel string, rs []bench.Result) bool {
	for _, r := range rs {
		if r.Kernel == kernel {
			return r.Class == bench.Overhead
		}
	}
	return false
}

// callTimePlot draws the time of one For call against workers, per backend.
func callTimePlot(kernel string, rs []bench.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = kernel + ": time per For call"
	p.X.Label.Text = "workers"
	p.Y.Label.Text = "µs per call"
	p.Legend.Top, p.Legend.Left = true, true
	maxW := 1.0
	for _, b := range []string{bench.BackendProcess, bench.BackendGoroutine} {
		var xys plotter.XYs
		for _, r := range rs {
			if r.Kernel == kernel && r.Backend == b && !r.Failed() {
				xys = append(xys, plotter.XY{X: float64(r.Workers), Y: r.MedianS * 1e6})
				maxW = math.Max(maxW, float64(r.Workers))
			}
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, b, xys, backendStyle[b].color, backendStyle[b].dash, draw.CircleGlyph{}); err != nil {
			return nil, err
		}
	}
	p.X.Min, p.Y.Min = 0, 0
	p.X.Max = maxW + 0.5
	p.X.Tick.Marker = workerTicks(maxW)
	return p, nil
}

// speedupPlot draws one kernel's speedup per backend and the ideal line.
func speedupPlot(kernel string, rs []bench.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = kernel
	p.X.Label.Text = "workers"
	p.Y.Label.Text = "speedup"
	p.Legend.Top, p.Legend.Left = true, true
	maxW := 1.0
	for _, r := range rs {
		if r.Kernel == kernel {
			maxW = math.Max(maxW, float64(r.Workers))
		}
	}
	ideal, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 1}, {X: maxW, Y: maxW}})
	if err != nil {
		return nil, err
	}
	ideal.Color = color.Gray{Y: 0x99}
	ideal.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(ideal)
	p.Legend.Add("ideal", ideal)
	for _, b := range []string{bench.BackendProcess, bench.BackendGoroutine} {
		var xys plotter.XYs
		for _, r := range rs {
			if r.Kernel == kernel && r.Backend == b && r.Speedup != nil {
				xys = append(xys, plotter.XY{X: float64(r.Workers), Y: *r.Speedup})
			}
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, b, xys, backendStyle[b].color, backendStyle[b].dash, draw.CircleGlyph{}); err != nil {
			return nil, err
		}
	}
	p.X.Min, p.Y.Min = 0, 0
	p.X.Max, p.Y.Max = maxW+0.5, math.Max(p.Y.Max, maxW)+0.5
	p.X.Tick.Marker = workerTicks(maxW)
	return p, nil
}

// glyphNames name plotutil's default glyph shapes, in order, for the
// bandwidth panel's title.
var glyphNames = []string{"○", "□", "△", "+", "×", "●", "■", "▲"}

// bandwidthPlot draws GB/s against workers for every bandwidth kernel: a
// color per kernel (one legend entry each), a marker per implementation
// (named in the title), solid for process teams, dashed for goroutines.
// It returns nil when no row has GB/s.
func bandwidthPlot(rs []bench.Result) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "workers"
	p.Y.Label.Text = "GB/s"
	p.Legend.Top, p.Legend.Left = true, true
	var labels, names, impls []string
	maxW := 1.0
	for _, r := range rs {
		if r.GBps != nil && r.Backend != bench.BackendSerial && !slices.Contains(labels, r.Kernel) {
			labels = append(labels, r.Kernel)
			if !slices.Contains(names, r.Name) {
				names = append(names, r.Name)
			}
			if !slices.Contains(impls, r.Impl) {
				impls = append(impls, r.Impl)
			}
		}
		maxW = math.Max(maxW, float64(r.Workers))
	}
	if len(labels) == 0 {
		return nil, nil
	}
	p.Title.Text = "bandwidth (solid: process, dashed: goroutine)"
	if len(impls) > 1 {
		var keys []string
		for i, impl := range impls {
			keys = append(keys, glyphNames[i%len(glyphNames)]+" "+impl)
		}
		p.Title.Text = "GB/s (dashed: goroutine; " + strings.Join(keys, ", ") + ")"
	}
	inLegend := map[string]bool{}
	for _, k := range labels {
		for _, b := range []string{bench.BackendProcess, bench.BackendGoroutine} {
			var xys plotter.XYs
			name, impl := "", ""
			for _, r := range rs {
				if r.Kernel == k && r.Backend == b && r.GBps != nil {
					xys = append(xys, plotter.XY{X: float64(r.Workers), Y: *r.GBps})
					name, impl = r.Name, r.Impl
				}
			}
			if len(xys) == 0 {
				continue
			}
			legend := ""
			if !inLegend[name] { // one legend entry per kernel
				legend, inLegend[name] = name, true
				if len(impls) == 1 {
					legend = k
				}
			}
			c := plotutil.Color(slices.Index(names, name))
			if err := addLine(p, legend, xys, c, backendStyle[b].dash, plotutil.Shape(slices.Index(impls, impl))); err != nil {
				return nil, err
			}
		}
	}
	p.X.Min, p.Y.Min = 0, 0
	p.X.Max = maxW + 0.5
	p.X.Tick.Marker = workerTicks(maxW)
	return p, nil
}

// addLine adds a line with markers and, if name is not empty, its legend
// entry.
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dash []vg.Length, glyph draw.GlyphDrawer) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, l.Dashes, l.Width = c, dash, vg.Points(1.5)
	s.Color, s.Shape = c, glyph
	p.Add(l, s)
	if name != "" {
		p.Legend.Add(name, l, s)
	}
	return nil
}

// workerTicks puts ticks at 1, 2, 4, … so that team sizes read as integers.
func workerTicks(maxW float64) plot.ConstantTicks {
	var ts plot.ConstantTicks
	for w := 1.0; w <= maxW; w *= 2 {
		ts = append(ts, plot.Tick{Value: w, Label: fmt.Sprint(w)})
	}
	if last := ts[len(ts)-1].Value; last != maxW {
		ts = append(ts, plot.Tick{Value: maxW, Label: fmt.Sprint(maxW)})
	}
	return ts
}
