set terminal pngcairo size 1200,600 font ",10"
set output "ratios.png"
set title "LoopOrder IOPS / kernel loop IOPS (same run, same cache mode; TCG VM: only ratios count)"
set ylabel "ratio (1.0 = loop)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"
plot for [i=2:3] "ratios.dat" using i:xtic(1) title columnheader(i)
