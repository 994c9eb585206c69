# Images made by the models (robinterp.synthesis): class
# generation from per-class seeds (Figs. 3/7, seeds 14/19), representation inversion
# (Figs. 4, 11 / 8, 18), feature visualisation (Figs. 5, 12 / 9, 15), and their
# metrics (robinterp.synthesis.fid): tables 2/5 (FID) and 3/6 (inversion distance). FID uses
# Inception-V3 (the paper) or, offline, an independently trained judge's features.


localrules:
    fetch_inception_weights,


rule fetch_inception_weights:
    output:
        INCEPTION_WEIGHTS,
    log:
        f"{RESULTS}/logs/fetch_inception_weights.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    shell:
        "python -m robinterp fetch-inception --out {output:q} 2> {log:q}"


rule train_judge:
    input:
        data=DATA_META,
    output:
        model=JUDGE_MODEL,
        history=JUDGE_HISTORY,
    log:
        f"{RESULTS}/logs/train_judge/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_judge/{{dataset}}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # the offline demo's FID stand-in; a short standard training
        runtime=240,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=judge_model_settings,
        train=judge_train_settings,
        checkpoint=JUDGE_CHECKPOINT,
        seed=judge_seed,
        device=config["device"],
        launcher=robinterp_launcher,
    shell:
        "{params.launcher} train --data {input.data:q} --model-settings {params.model:q}"
        " --train-settings {params.train:q} --seed {params.seed} --device {params.device}"
        " --threads {threads} --checkpoint {params.checkpoint:q} --history {output.history:q}"
        " --out {output.model:q} --where datasets.{wildcards.dataset}.synthesis.judge 2> {log:q}"


rule class_seeds:
    input:
        data=DATA_META,
    output:
        CLASS_SEEDS,
    log:
        f"{RESULTS}/logs/class_seeds/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        settings=synthesis_settings("class_seeds"),
    shell:
        "python -m robinterp class-seeds --data {input.data:q} --settings {params.settings:q}"
        " --where datasets.{wildcards.dataset}.synthesis --out {output:q} 2> {log:q}"


rule generate_classes:
    input:
        data=DATA_META,
        model=MODEL,
        seeds=CLASS_SEEDS,
    output:
        GENERATED_NPZ,
    log:
        f"{RESULTS}/logs/generate_classes/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate_classes/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # 60 steps for 10,000 (CIFAR-10) or 9,000 (Small ImageNet) images
        runtime=240,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=synthesis_settings("generate_classes"),
        device=config["device"],
    shell:
        synthesis_shell("generate", "--seeds {input.seeds:q} ")


rule invert_representations:
    input:
        data=DATA_META,
        model=MODEL,
    output:
        INVERSIONS_NPZ,
    log:
        f"{RESULTS}/logs/invert_representations/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/invert_representations/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # 10,000 steps, two source sets; not checkpointed, so the runtime is generous
        runtime=720,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=synthesis_settings("invert_representations"),
        device=config["device"],
    shell:
        synthesis_shell("invert")


rule visualise_features:
    input:
        data=DATA_META,
        model=MODEL,
    output:
        FEATURES_NPZ,
    log:
        f"{RESULTS}/logs/visualise_features/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/visualise_features/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # 400 steps per coordinate, plus R(x) of the whole test set
        runtime=120,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=synthesis_settings("visualise_features"),
        device=config["device"],
    shell:
        synthesis_shell("visualise")


rule synthesis_metrics:
    input:
        data=DATA_META,
        features_from=get_feature_extractor,
        generated=input_list(get_generated),
        inversions=input_list(get_inversions),
    output:
        SYNTHESIS_METRICS,
    log:
        f"{RESULTS}/logs/synthesis_metrics/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis_metrics/{{dataset}}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # Inception-V3 features of the test, train-sample and generated images
        runtime=240,
        mem_mb=64000,
        gpu=job_gpus,
    params:
        model=judge_model_settings,
        settings=synthesis_settings("synthesis_metrics"),
        device=config["device"],
        generated=name_path_params(get_generated),
        inversions=name_path_params(get_inversions),
    shell:
        "python -m robinterp synthesis-metrics --data {input.data:q} --settings {params.settings:q}"
        " --where datasets.{wildcards.dataset}.synthesis --features-from {input.features_from:q}"
        " --model-settings {params.model:q} --device {params.device} --threads {threads}"
        " --generated {params.generated} --inversions {params.inversions} --out {output:q} 2> {log:q}"


rule synthesis_table:
    input:
        get_synthesis_table_metrics,
    output:
        report(SYNTHESIS_TABLE, category="Tables"),
    log:
        f"{RESULTS}/logs/synthesis_table/{{synthesis_table}}.log",
    wildcard_constraints:
        synthesis_table="|".join(SYNTHESIS_TABLES),
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        dataset=synthesis_table_dataset,
        kind=synthesis_table_kind,
        features=synthesis_table_features,
        models=synthesis_table_models,
        run=synthesis_table_run_settings,
    shell:
        "python -m robinterp synthesis-table --kind {params.kind} --features {params.features}"
        " --dataset {params.dataset} --models {params.models} --run-settings {params.run:q}"
        " --metrics {input:q} --out {output:q} 2> {log:q}"


rule plot_seeds:
    input:
        data=DATA_META,
        seeds=get_class_seeds_of_figure,
    output:
        png=report(f"{SEEDS_FIGURE}.png", category="Figures"),
        pdf=f"{SEEDS_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_seeds/fig{{number}}_{{dataset}}.log",
    wildcard_constraints:
        number="[0-9]{2}",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        settings=synthesis_settings(),
    shell:
        "python -m robinterp plot-seeds --data {input.data:q} --settings {params.settings:q}"
        " --seeds {input.seeds:q} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_generation:
    input:
        data=DATA_META,
        generated=input_list(get_generation_figure_arrays),
    output:
        png=report(f"{GENERATION_FIGURE}.png", category="Figures"),
        pdf=f"{GENERATION_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_generation/fig{{number}}_{{dataset}}.log",
    wildcard_constraints:
        number="[0-9]{2}",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        settings=synthesis_settings(),
        generated=name_path_params(get_generation_figure_arrays),
    shell:
        "python -m robinterp plot-generation --data {input.data:q} --settings {params.settings:q}"
        " --generated {params.generated} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_inversions:
    input:
        unpack(get_inversion_figure_arrays),
    output:
        png=report(f"{INVERSION_FIGURE}.png", category="Figures"),
        pdf=f"{INVERSION_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_inversions/fig{{number}}_{{dataset}}.log",
    wildcard_constraints:
        number="[0-9]{2}",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        settings=synthesis_settings(),
        block=figure_entry("inversion"),
        inversions=input_name_paths,
    shell:
        "python -m robinterp plot-inversions --settings {params.settings:q} --inversions {params.inversions}"
        " --block {params.block} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_features:
    input:
        unpack(get_feature_figure_arrays),
    output:
        png=report(f"{FEATURES_FIGURE}.png", category="Figures"),
        pdf=f"{FEATURES_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_features/fig{{number}}_{{dataset}}.log",
    wildcard_constraints:
        number="[0-9]{2}",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        settings=synthesis_settings(),
        entry=figure_entry("visualisation"),
        features=input_name_paths,
    shell:
        "python -m robinterp plot-features --settings {params.settings:q} --features {params.features}"
        " --entry {params.entry} --out {output.png:q} {output.pdf:q} 2> {log:q}"
