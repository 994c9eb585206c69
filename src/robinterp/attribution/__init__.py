"""Attribution: the methods (IG, SHAP), the metrics of table 7, which images are explained, the figures
(Figs. 2/6, 10/16, 13/17) and the jobs' I/O."""
