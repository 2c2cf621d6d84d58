// shipwayPipeline(service: 'hello')
//
// The whole declarative pipeline of one service, so its Jenkinsfile is two lines:
//     @Library('shipway') _
//     shipwayPipeline(service: 'hello', credentials: 'registry-creds')
// Stages: Checkout, Build, Image, Push, Deploy (deploy branches only).

/**
 * service         the service name (required)
 * catalog         the catalog's path in the repo (default shipway.yml)
 * credentials     id of the registry's username/password credential (default: none)
 * prometheusCredentials  id of the username/password credential for Prometheus and the
 *                 Pushgateway, bound around deploy only (default: none)
 * prometheusToken id of the secret text credential holding their bearer token instead
 * deployBranches  branches that deploy, Ant-style patterns (default ['main']; [] never deploys)
 * agent           agent label, 'any' for any agent (default any)
 * timeoutMinutes  build timeout (default 30)
 * pauseTimeout    minutes a deploy that deploy.analysis paused (exit 3, on_inconclusive:
 *                 pause) waits for its answer, continue the rollout or roll back (default
 *                 60, the analysis' pause_timeout; the build timeout grows by it): see
 *                 shipwayStage
 * environments    the catalog's environments in promotion order: then the pipeline builds
 *                 once, deploys to the first and promotes to each later one, after its
 *                 approval (shipwayDelivery, which says how to give them)
 */
def call(Map config = [:]) {
    String service = config.service
    if (!service) {
        error('shipwayPipeline: service is required')
    }
    if (config.environments) {
        shipwayDelivery(config)
        return
    }
    String catalog = config.catalog ?: 'shipway.yml'
    String credentials = config.credentials ?: null
    String prometheusCredentials = config.prometheusCredentials ?: null
    String prometheusToken = config.prometheusToken ?: null
    List deployBranches = config.containsKey('deployBranches') ? (config.deployBranches ?: []) : ['main']
    // An empty label runs on any agent, like `agent any`.
    String agentLabel = (config.agent ?: 'any') == 'any' ? '' : config.agent
    int timeoutMinutes = (config.timeoutMinutes ?: 30) as int
    int pauseTimeout = (config.pauseTimeout ?: 60) as int

    pipeline {
        agent { label agentLabel }
        options {
            disableConcurrentBuilds()
            buildDiscarder(logRotator(numToKeepStr: '30'))
            // and the time a paused deploy waits for its answer
            timeout(time: timeoutMinutes + pauseTimeout, unit: 'MINUTES')
            skipDefaultCheckout()
        }
        stages {
            stage('Checkout') {
                steps {
                    script {
                        // Outside multibranch jobs nothing puts checkout's variables in env:
                        // shipway reads GIT_COMMIT/GIT_URL, the deploy check GIT_LOCAL_BRANCH.
                        def scmVars = checkout scm
                        env.GIT_COMMIT = scmVars.GIT_COMMIT ?: ''
                        env.GIT_URL = scmVars.GIT_URL ?: ''
                        env.GIT_BRANCH = scmVars.GIT_BRANCH ?: ''
                        env.GIT_LOCAL_BRANCH = scmVars.GIT_LOCAL_BRANCH ?: ''
                    }
                }
            }
            stage('Build') {
                steps {
                    shipwayStage(stage: 'build', service: service, catalog: catalog)
                }
            }
            stage('Image') {
                steps {
                    shipwayStage(stage: 'image', service: service, catalog: catalog)
                }
            }
            stage('Push') {
                steps {
                    shipwayStage(stage: 'push', service: service, catalog: catalog, credentials: credentials)
                }
            }
            stage('Deploy') {
                when {
                    expression { return isDeployBranch(deployBranches, env.BRANCH_NAME ?: env.GIT_LOCAL_BRANCH) }
                }
                steps {
                    shipwayStage(stage: 'deploy', service: service, catalog: catalog,
                                 credentials: credentials, prometheusCredentials: prometheusCredentials,
                                 prometheusToken: prometheusToken, json: true,
                                 pauseTimeout: pauseTimeout)
                }
                post {
                    always {
                        // What runs now, after a failed deploy too (swarm may have rolled back).
                        script {
                            try {
                                shipwayStage(stage: 'status', service: service, catalog: catalog, json: true)
                            } catch (err) {
                                echo "shipway status failed: ${err}"
                            }
                        }
                        archiveArtifacts artifacts: 'shipway-deploy.json, shipway-status.json', allowEmptyArchive: true
                    }
                }
            }
        }
    }
}

/**
 * Whether `branch` matches one of `patterns` as `when { branch }` decides, so this library
 * and a rendered Jenkinsfile deploy the same branches (pipeline-model-definition
 * BranchConditional.branchMatches: an empty branch matches nothing; its default comparator
 * Comparator.GLOB is Ant's SelectorUtils.matchPath(pattern, branch, false)): the branch and
 * the pattern are split at '/', `**` stands for any number of segments (none too), `*` for
 * any characters within one segment, `?` for one character; letters match in any case.
 * `Main` matches `main`, `release/**` matches `release/1.2/x` and `release`,
 * `release/*` does not match `release/1.2/x`.
 */
@NonCPS
boolean isDeployBranch(List patterns, String branch) {
    if (!branch) {
        return false
    }
    List<String> names = antTokens(branch)
    for (Object pattern : patterns) {
        if (pattern != null && pattern.toString() && antPathMatch(antTokens(pattern.toString()), 0, names, 0)) {
            return true
        }
    }
    return false
}

/** Ant's tokenizePathAsArray on Linux: '/'-separated, empty parts dropped; an absolute
 *  path (leading '/' or '\\') keeps '/' as its first token and splits at '\\' too. */
@NonCPS
List<String> antTokens(String path) {
    List<String> tokens = []
    String rest = path
    if (path.startsWith('/') || path.startsWith('\\')) {
        tokens << '/'
        rest = path.replace('\\', '/')
    }
    for (String part : rest.split('/')) {
        if (part) {
            tokens << part
        }
    }
    return tokens
}

/** Segments p[i..] against s[j..]; `**` takes zero or more whole segments. */
@NonCPS
boolean antPathMatch(List<String> p, int i, List<String> s, int j) {
    if (i == p.size()) {
        return j == s.size()
    }
    if (p[i] == '**') {
        for (int k = j; k <= s.size(); k++) {
            if (antPathMatch(p, i + 1, s, k)) {
                return true
            }
        }
        return false
    }
    return j < s.size() && antSegmentMatch(p[i], s[j]) && antPathMatch(p, i + 1, s, j + 1)
}

/** One segment: `*` any characters, `?` one, the rest literally, ignoring case. */
@NonCPS
boolean antSegmentMatch(String pattern, String name) {
    StringBuilder regex = new StringBuilder()
    for (int i = 0; i < pattern.length(); i++) {
        char c = pattern.charAt(i)
        if (c == '*' as char) {
            regex.append('.*')
        } else if (c == '?' as char) {
            regex.append('.')
        } else {
            regex.append(java.util.regex.Pattern.quote(String.valueOf(c)))
        }
    }
    int flags = java.util.regex.Pattern.CASE_INSENSITIVE | java.util.regex.Pattern.UNICODE_CASE | java.util.regex.Pattern.DOTALL
    return java.util.regex.Pattern.compile(regex.toString(), flags).matcher(name).matches()
}
