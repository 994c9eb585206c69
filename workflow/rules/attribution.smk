# Local explanations (robinterp.attribution): Integrated
# Gradients and SHAP maps for the paper's Figs. 2/6, 10/16, 13/17, and table 7
# (alignment, sparsity, faithfulness and robustness of the explanations). One
# selection of test images per dataset, shared by every model.


rule select_attribution_images:
    input:
        data=DATA_META,
    output:
        ATTRIBUTION_SELECTION,
    log:
        f"{RESULTS}/logs/select_attribution_images/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        settings=dataset_settings("attribution"),
    shell:
        "python -m robinterp select-attribution-images --data {input.data:q} --settings {params.settings:q}"
        " --out {output:q} --where datasets.{wildcards.dataset}.attribution 2> {log:q}"


rule attribute_model:
    input:
        data=DATA_META,
        model=MODEL,
        selection=ATTRIBUTION_SELECTION,
    output:
        ATTRIBUTION_JSON,
    log:
        f"{RESULTS}/logs/attribute_model/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/attribute_model/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # IG (51 points × 10 baselines, 3 times per image), SHAP, on 500 + 24 images
        runtime=240,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=dataset_settings("attribution"),
        device=config["device"],
    shell:
        "python -m robinterp attribute --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --selection {input.selection:q}"
        " --device {params.device} --threads {threads} --out-metrics {output:q}"
        " --where datasets.{wildcards.dataset}.attribution 2> {log:q}"


# The maps of the figures, only for the methods the figures show (figure_methods).
rule explain_model:
    input:
        data=DATA_META,
        model=MODEL,
        selection=ATTRIBUTION_SELECTION,
    output:
        ATTRIBUTION_NPZ,
    log:
        f"{RESULTS}/logs/explain_model/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/explain_model/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # IG and SHAP maps of the 24 figure images, for the figures' methods
        runtime=120,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=dataset_settings("attribution"),
        device=config["device"],
    shell:
        "python -m robinterp attribute --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --selection {input.selection:q}"
        " --device {params.device} --threads {threads} --out-arrays {output:q}"
        " --where datasets.{wildcards.dataset}.attribution 2> {log:q}"


rule plot_attributions:
    input:
        unpack(get_attribution_arrays),
    output:
        png=report(f"{ATTRIBUTION_FIGURE}.png", category="Figures"),
        pdf=f"{ATTRIBUTION_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_attributions/fig{{number}}_{{dataset}}.log",
    wildcard_constraints:
        number="[0-9]{2}",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        arrays=input_name_paths,
        rows=attribution_sample_rows,
        scale=attribution_figure_scale,
    shell:
        "python -m robinterp plot-attributions --arrays {params.arrays} --rows {params.rows}"
        " --scale {params.scale} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_attribution_grid:
    input:
        unpack(get_attribution_arrays),
    output:
        png=report(f"{ATTRIBUTION_GRID_FIGURE}.png", category="Figures"),
        pdf=f"{ATTRIBUTION_GRID_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_attribution_grid/fig{{number}}_{{dataset}}_{{method}}.log",
    wildcard_constraints:
        number="[0-9]{2}",
        method="ig|shap",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        arrays=input_name_paths,
        scale=attribution_figure_scale,
    shell:
        "python -m robinterp plot-attribution-grid --arrays {params.arrays} --method {wildcards.method}"
        " --scale {params.scale} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule attribution_table:
    input:
        list(attribution_metric_files().values()),
    output:
        report(ATTRIBUTION_TABLE, category="Tables"),
    log:
        f"{RESULTS}/logs/attribution_table/table7_attribution.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        metrics=name_path_args(attribution_metric_files()),
    shell:
        "python -m robinterp attribution-table --metrics {params.metrics} --out {output:q} 2> {log:q}"
