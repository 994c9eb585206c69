# Analyses across methods (robinterp.analysis): the robustness-curve figure, Etmann et al.'s
# alignment vs robustness (their Figs. 2-5), the methods x metrics matrix of each dataset, and
# robust accuracy against each interpretability metric of the matrix.


rule plot_robustness_curves:
    input:
        unpack(get_curves),
    output:
        png=report(f"{ROBUSTNESS_FIGURE}.png", category="Figures"),
        pdf=f"{ROBUSTNESS_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_robustness_curves/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        curves=input_name_paths,
    shell:
        "python -m robinterp plot-robustness-curves --curves {params.curves} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule etmann_analysis:
    input:
        data=DATA_META,
        model=MODEL,
    output:
        arrays=ETMANN_NPZ,
        summary=ETMANN_JSON,
    log:
        f"{RESULTS}/logs/etmann_analysis/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/etmann_analysis/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # PGD-L2 bisection per test image
        runtime=240,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=dataset_settings("etmann"),
        device=config["device"],
    shell:
        "python -m robinterp etmann --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --device {params.device}"
        " --threads {threads} --where datasets.{wildcards.dataset}.etmann --out-arrays {output.arrays:q}"
        " --out-summary {output.summary:q} 2> {log:q}"


rule plot_etmann:
    input:
        unpack(get_etmann_arrays),
    output:
        summary=report(f"{ETMANN_SUMMARY_FIGURE}.png", category="Figures"),
        summary_pdf=f"{ETMANN_SUMMARY_FIGURE}.pdf",
        scatter=report(f"{ETMANN_SCATTER_FIGURE}.png", category="Figures"),
        scatter_pdf=f"{ETMANN_SCATTER_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_etmann/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        analyses=input_name_paths,
        order=gradnorm_order,
    shell:
        "python -m robinterp plot-etmann --analyses {params.analyses} --gradnorm-order '{params.order}'"
        " --title {wildcards.dataset} --out-summary {output.summary:q} {output.summary_pdf:q}"
        " --out-scatter {output.scatter:q} {output.scatter_pdf:q} 2> {log:q}"


rule methods_matrix:
    input:
        evaluation=input_list(get_evaluations),
        attribution=input_list(get_attribution_metrics),
        etmann=input_list(get_etmann_summaries),
        synthesis=SYNTHESIS_METRICS,
    output:
        csv=report(METHODS_MATRIX_CSV, category="Tables"),
        png=report(f"{METHODS_MATRIX_FIGURE}.png", category="Figures"),
        pdf=f"{METHODS_MATRIX_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/methods_matrix/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        evaluation=name_path_params(get_evaluations),
        attribution=name_path_params(get_attribution_metrics),
        etmann=name_path_params(get_etmann_summaries),
    shell:
        "python -m robinterp methods-matrix --dataset {wildcards.dataset} --evaluation {params.evaluation}"
        " --attribution {params.attribution} --etmann {params.etmann} --synthesis {input.synthesis:q}"
        " --out-csv {output.csv:q} --out-figure {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_robustness_interpretability:
    input:
        METHODS_MATRIX_CSV,
    output:
        png=report(f"{ROBUSTNESS_INTERPRETABILITY_FIGURE}.png", category="Figures"),
        pdf=f"{ROBUSTNESS_INTERPRETABILITY_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_robustness_interpretability/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        robust=robust_accuracy_metric,
    shell:
        "python -m robinterp plot-robustness-interpretability --matrix {input:q} --robust-metric {params.robust}"
        " --title {wildcards.dataset} --out {output.png:q} {output.pdf:q} 2> {log:q}"
