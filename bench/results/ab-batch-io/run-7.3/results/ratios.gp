set terminal pngcairo size 1200,600 font ",10" noenhanced
set output "ratios.png"
set title "IOPS / kernel loop IOPS (same run, same cache mode; bare file = fio on the backing file; TCG VM: only ratios count)"
set ylabel "ratio (1.0 = loop)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
# gnuplot's default cycle has 8 colours; the full matrix has 14 rows, so name 14 distinct ones
set linetype 1 lc rgb "#1f77b4"
set linetype 2 lc rgb "#ff7f0e"
set linetype 3 lc rgb "#2ca02c"
set linetype 4 lc rgb "#d62728"
set linetype 5 lc rgb "#9467bd"
set linetype 6 lc rgb "#8c564b"
set linetype 7 lc rgb "#e377c2"
set linetype 8 lc rgb "#7f7f7f"
set linetype 9 lc rgb "#bcbd22"
set linetype 10 lc rgb "#17becf"
set linetype 11 lc rgb "#000080"
set linetype 12 lc rgb "#ffd700"
set linetype 13 lc rgb "#00ff7f"
set linetype 14 lc rgb "#800000"
set linetype cycle 14
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"
plot for [i=2:5] "ratios.dat" using i:xtic(1) title columnheader(i)
