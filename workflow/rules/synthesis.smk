# Images made by the models (robinterp.synthesis, robinterp.synthesis_jobs): class
# generation from per-class seeds (Figs. 3/7, seeds 14/19), representation inversion
# (Figs. 4, 11 / 8, 18), feature visualisation (Figs. 5, 12 / 9, 15), and their
# metrics (robinterp.fid): tables 2/5 (FID) and 3/6 (inversion distance). FID uses
# Inception-V3 (the paper) or, offline, an independently trained judge's features.


localrules:
    fetch_inception_weights,


rule fetch_inception_weights:
    output:
        INCEPTION_WEIGHTS,
    log:
        "logs/fetch_inception_weights.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp fetch-inception --out {output:q} 2> {log:q}"


rule train_judge:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        model=judge_file("{dataset}"),
        history=f"{RESULTS}/judge/{{dataset}}/history.csv",
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        train=judge_train_settings,
        checkpoint=lambda wc: f"{RESULTS}/judge/{wc.dataset}/resume.pt",
        seed=lambda wc: synthesis(wc.dataset)["judge"]["seed"],
        device=config["device"],
        launcher=robinterp_launcher,
    log:
        f"{RESULTS}/logs/train_judge/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_judge/{{dataset}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "{params.launcher} train --data {input.data:q} --model-settings {params.model:q}"
        " --train-settings {params.train:q} --seed {params.seed} --device {params.device}"
        " --threads {threads} --checkpoint {params.checkpoint:q} --history {output.history:q}"
        " --out {output.model:q} --where datasets.{wildcards.dataset}.synthesis.judge 2> {log:q}"


rule class_seeds:
    input:
        data=lambda wc: prepared(wc.dataset),
    output:
        f"{RESULTS}/synthesis/{{dataset}}/seeds.npz",
    params:
        settings=synthesis_settings("class_seeds"),
    log:
        f"{RESULTS}/logs/class_seeds/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp class-seeds --data {input.data:q} --settings {params.settings:q}"
        " --where datasets.{wildcards.dataset}.synthesis --out {output:q} 2> {log:q}"


rule generate_classes:
    input:
        data=lambda wc: prepared(wc.dataset),
        model=lambda wc: model_file(wc.dataset, wc.model),
        seeds=f"{RESULTS}/synthesis/{{dataset}}/seeds.npz",
    output:
        synthesis_file("{dataset}", "{model}", "generated"),
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=synthesis_settings("generate_classes"),
        device=config["device"],
    log:
        f"{RESULTS}/logs/generate_classes/{{dataset}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate_classes/{{dataset}}/{{model}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        synthesis_shell("generate", "--seeds {input.seeds:q} ")


rule invert_representations:
    input:
        data=lambda wc: prepared(wc.dataset),
        model=lambda wc: model_file(wc.dataset, wc.model),
    output:
        synthesis_file("{dataset}", "{model}", "inversions"),
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=synthesis_settings("invert_representations"),
        device=config["device"],
    log:
        f"{RESULTS}/logs/invert_representations/{{dataset}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/invert_representations/{{dataset}}/{{model}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        synthesis_shell("invert")


rule visualise_features:
    input:
        data=lambda wc: prepared(wc.dataset),
        model=lambda wc: model_file(wc.dataset, wc.model),
    output:
        synthesis_file("{dataset}", "{model}", "features"),
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=synthesis_settings("visualise_features"),
        device=config["device"],
    log:
        f"{RESULTS}/logs/visualise_features/{{dataset}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/visualise_features/{{dataset}}/{{model}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        synthesis_shell("visualise")


rule synthesis_metrics:
    input:
        data=lambda wc: prepared(wc.dataset),
        features_from=feature_extractor_file,
        generated=lambda wc: list(synthesis_files(wc.dataset, "generated").values()),
        inversions=lambda wc: list(synthesis_files(wc.dataset, "inversions").values()),
    output:
        f"{RESULTS}/synthesis/{{dataset}}/metrics.json",
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=synthesis_settings("synthesis_metrics"),
        device=config["device"],
        generated=lambda wc: name_path_args(synthesis_files(wc.dataset, "generated")),
        inversions=lambda wc: name_path_args(synthesis_files(wc.dataset, "inversions")),
    log:
        f"{RESULTS}/logs/synthesis_metrics/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesis_metrics/{{dataset}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp synthesis-metrics --data {input.data:q} --settings {params.settings:q}"
        " --where datasets.{wildcards.dataset}.synthesis --features-from {input.features_from:q}"
        " --model-settings {params.model:q} --device {params.device} --threads {threads}"
        " --generated {params.generated} --inversions {params.inversions} --out {output:q} 2> {log:q}"


rule synthesis_table:
    input:
        lambda wc: f"{RESULTS}/synthesis/{SYNTHESIS_TABLES[wc.synthesis_table][0]}/metrics.json",
    output:
        report(f"{RESULTS}/{{synthesis_table}}.csv", category="Tables"),
    wildcard_constraints:
        synthesis_table="|".join(SYNTHESIS_TABLES),
    params:
        dataset=lambda wc: SYNTHESIS_TABLES[wc.synthesis_table][0],
        kind=lambda wc: SYNTHESIS_TABLES[wc.synthesis_table][1],
        features=lambda wc: synthesis(SYNTHESIS_TABLES[wc.synthesis_table][0])["features"],
        models=lambda wc: ",".join(methods(SYNTHESIS_TABLES[wc.synthesis_table][0])),
    log:
        f"{RESULTS}/logs/synthesis_table/{{synthesis_table}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp synthesis-table --kind {params.kind} --features {params.features}"
        " --dataset {params.dataset} --models {params.models} --metrics {input:q} --out {output:q} 2> {log:q}"


rule plot_seeds:
    input:
        data=lambda wc: prepared(wc.dataset),
        seeds=f"{RESULTS}/synthesis/{{dataset}}/seeds.npz",
    output:
        png=report(f"{RESULTS}/fig{{number}}_{{dataset}}_seeds.png", category="Figures"),
        pdf=f"{RESULTS}/fig{{number}}_{{dataset}}_seeds.pdf",
    wildcard_constraints:
        number="[0-9]{2}",
    params:
        settings=synthesis_settings(),
        check=lambda wc: synthesis_figure_entry(wc, "seeds"),
    log:
        f"{RESULTS}/logs/plot_seeds/fig{{number}}_{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp plot-seeds --data {input.data:q} --settings {params.settings:q}"
        " --seeds {input.seeds:q} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_generation:
    input:
        data=lambda wc: prepared(wc.dataset),
        generated=lambda wc: list(synthesis_files(wc.dataset, "generated", figure=True).values()),
    output:
        png=report(f"{RESULTS}/fig{{number}}_{{dataset}}_generation.png", category="Figures"),
        pdf=f"{RESULTS}/fig{{number}}_{{dataset}}_generation.pdf",
    wildcard_constraints:
        number="[0-9]{2}",
    params:
        settings=synthesis_settings(),
        check=lambda wc: synthesis_figure_entry(wc, "generation"),
        generated=lambda wc: name_path_args(synthesis_files(wc.dataset, "generated", figure=True)),
    log:
        f"{RESULTS}/logs/plot_generation/fig{{number}}_{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp plot-generation --data {input.data:q} --settings {params.settings:q}"
        " --generated {params.generated} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_inversions:
    input:
        lambda wc: list(synthesis_files(wc.dataset, "inversions", figure=True).values()),
    output:
        png=report(f"{RESULTS}/fig{{number}}_{{dataset}}_inversion.png", category="Figures"),
        pdf=f"{RESULTS}/fig{{number}}_{{dataset}}_inversion.pdf",
    wildcard_constraints:
        number="[0-9]{2}",
    params:
        settings=synthesis_settings(),
        block=lambda wc: synthesis_figure_entry(wc, "inversion"),
        inversions=lambda wc: name_path_args(synthesis_files(wc.dataset, "inversions", figure=True)),
    log:
        f"{RESULTS}/logs/plot_inversions/fig{{number}}_{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp plot-inversions --settings {params.settings:q} --inversions {params.inversions}"
        " --block {params.block} --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule plot_features:
    input:
        lambda wc: list(synthesis_files(wc.dataset, "features", figure=True).values()),
    output:
        png=report(f"{RESULTS}/fig{{number}}_{{dataset}}_features.png", category="Figures"),
        pdf=f"{RESULTS}/fig{{number}}_{{dataset}}_features.pdf",
    wildcard_constraints:
        number="[0-9]{2}",
    params:
        settings=synthesis_settings(),
        entry=lambda wc: synthesis_figure_entry(wc, "visualisation"),
        features=lambda wc: name_path_args(synthesis_files(wc.dataset, "features", figure=True)),
    log:
        f"{RESULTS}/logs/plot_features/fig{{number}}_{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp plot-features --settings {params.settings:q} --features {params.features}"
        " --entry {params.entry} --out {output.png:q} {output.pdf:q} 2> {log:q}"
