"""The app the every-type deploy tests deploy: a SAM template using every supported type.

Its function, layer, state machine and nested stack are laid out as in the repository by
:func:`write_app`; :func:`deployed_app` deploys it into a fresh cloud.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localcloud.cloud import LocalCloud
from localcloud.deployer.stack import Stack

HANDLERS = Path(__file__).parent / "handlers"

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Description: every resource type the local deploy supports

Parameters:
  Stage:
    Type: String
    AllowedValues: [dev, test, prod]
    Default: dev
  RetentionDays:
    Type: Number
    Default: 30
  PatchGroups:
    Type: CommaDelimitedList
    Default: "web, db"
  ApprovalDays:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /fleetpatch/approve-after-days

Mappings:
  StageSettings:
    dev: {LogLevel: DEBUG}
    prod: {LogLevel: INFO}

Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsNotProd: !Not [!Condition IsProd]
  KeepLogs: !Or [!Condition IsProd, !Equals [!Ref RetentionDays, 30]]

Globals:
  Function:
    Runtime: python3.13
    Timeout: 20
    MemorySize: 256
    Layers: [!Ref DomainLayer]
    Environment:
      Variables:
        STAGE: !Ref Stage
        LOG_LEVEL: !FindInMap [StageSettings, !Ref Stage, LogLevel]

Resources:
  DataKey:
    Type: AWS::KMS::Key
    Properties:
      Description: fleetpatch data
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"
  DataKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub alias/fleetpatch-${Stage}
      TargetKeyId: !Ref DataKey

  ReportsBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !GetAtt DataKey.Arn
            BucketKeyEnabled: true
      VersioningConfiguration: {Status: Enabled}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      OwnershipControls:
        Rules: [{ObjectOwnership: BucketOwnerEnforced}]
      LifecycleConfiguration:
        Rules:
          - Id: expire-reports
            Status: Enabled
            ExpirationInDays: !Ref RetentionDays
            NoncurrentVersionExpiration: {NoncurrentDays: 7}
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
      Tags: [{Key: app, Value: fleetpatch}]
  ReportsBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref ReportsBucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: s3:*
            Resource: [!GetAtt ReportsBucket.Arn, !Sub "${ReportsBucket.Arn}/*"]
            Condition: {Bool: {aws:SecureTransport: false}}

  ReportsTopic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: alias/aws/sns
      DisplayName: fleetpatch reports
  ReportsTopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref ReportsTopic]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: states.amazonaws.com}
            Action: sns:Publish
            Resource: !Ref ReportsTopic
  ReportsInbox:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
  ReportsInboxPolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref ReportsInbox]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt ReportsInbox.Arn
            Condition: {ArnEquals: {aws:SourceArn: !Ref ReportsTopic}}
  ReportsSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref ReportsTopic
      Protocol: sqs
      Endpoint: !GetAtt ReportsInbox.Arn
      RawMessageDelivery: true
      FilterPolicy: {kind: [report]}

  LaunchDeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
      KmsMasterKeyId: !Ref DataKeyAlias

  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: status, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: by-status
          KeySchema: [{AttributeName: status, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      SSESpecification:
        SSEEnabled: true
        SSEType: KMS
        KMSMasterKeyId: !Ref DataKey
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      DeletionProtectionEnabled: !If [IsProd, true, false]

  DomainLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: !Sub fleetpatch-${Stage}
      ContentUri: layers/domain/
      CompatibleRuntimes: [python3.13]

  EchoLogs:
    Type: AWS::Logs::LogGroup
    Condition: KeepLogs
    Properties:
      LogGroupName: !Sub /aws/lambda/${EchoFunction}
      RetentionInDays: !Ref RetentionDays

  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.lambda_handler
      Environment:
        Variables:
          GREETING: !Sub hello from ${AWS::Region}
          TABLE_NAME: !Ref StateTable
          TOPIC_ARN: !Ref ReportsTopic
          KEY_ID: !GetAtt DataKey.KeyId
          TABLE_STREAM: !GetAtt StateTable.StreamArn
      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt LaunchDeadLetters.Arn}
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure: {Type: SQS, Destination: !GetAtt LaunchDeadLetters.Arn}
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref StateTable}
        - SNSPublishMessagePolicy: {TopicName: !GetAtt ReportsTopic.TopicName}
      Events:
        InstanceRunning:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.ec2]
              detail-type: [EC2 Instance State-change Notification]
              detail: {state: [running]}
            DeadLetterConfig: {Type: SQS}
            RetryPolicy: {MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 3600}

  WorkflowRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: [states.amazonaws.com, events.amazonaws.com]}
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - !Ref WorkflowPolicy
        - arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess
      Policies:
        - PolicyName: invoke
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: lambda:InvokeFunction
                Resource: !GetAtt EchoFunction.Arn
  WorkflowPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: sns:Publish
            Resource: !Ref ReportsTopic
  WorkflowLogsPolicy:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: logs
      Roles: [!Ref WorkflowRole]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: logs:CreateLogDelivery
            Resource: "*"
          # The stopped-instance rule starts the workflow with this role.
          - Effect: Allow
            Action: states:StartExecution
            Resource: !Ref Workflow
  WorkflowLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 14

  Workflow:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/workflow.asl.yaml
      DefinitionSubstitutions:
        EchoFunctionArn: !GetAtt EchoFunction.Arn
        ReportsTopicArn: !Ref ReportsTopic
      Role: !GetAtt WorkflowRole.Arn
      Logging:
        Level: ALL
        IncludeExecutionData: true
        Destinations:
          - CloudWatchLogsLogGroup: {LogGroupArn: !GetAtt WorkflowLogs.Arn}
      Tracing: {Enabled: true}

  AuditMachine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineType: EXPRESS
      RoleArn: !GetAtt WorkflowRole.Arn
      Definition:
        StartAt: Notify
        States:
          Notify:
            Type: Pass
            Result: {topic: "${TopicArn}"}
            End: true
      DefinitionSubstitutions:
        TopicArn: !Ref ReportsTopic
      EncryptionConfiguration:
        Type: CUSTOMER_MANAGED_KMS_KEY
        KmsKeyId: !GetAtt DataKey.Arn
        KmsDataKeyReusePeriodSeconds: 300

  StoppedRule:
    Type: AWS::Events::Rule
    Properties:
      Description: stopped instances start the workflow
      EventPattern:
        source: [aws.ec2]
        detail: {state: [stopped]}
      Targets:
        - Id: workflow
          Arn: !Ref Workflow
          RoleArn: !GetAtt WorkflowRole.Arn
          InputPath: $.detail
          DeadLetterConfig: {Arn: !GetAtt LaunchDeadLetters.Arn}

  # issue 22: a bus of its own, open to an organization (the central stack's).
  CentralBus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub central-${Stage}

  CentralBusPolicy:
    Type: AWS::Events::EventBusPolicy
    Properties:
      EventBusName: !Ref CentralBus
      StatementId: AllowOrganization
      Statement:
        Effect: Allow
        Principal: "*"
        Action: events:PutEvents
        Resource: !GetAtt CentralBus.Arn
        Condition:
          StringEquals:
            aws:PrincipalOrgID: o-a1b2c3d4e5

  WebhookSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Description: Slack webhook
      GenerateSecretString:
        SecretStringTemplate: '{"url": "https://hooks.example.com"}'
        GenerateStringKey: token
        PasswordLength: 24
        ExcludePunctuation: true

  PolicyVersion:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /fleetpatch/${Stage}/policy-version
      Type: String
      Value: "7"
      Tags: {app: fleetpatch}

  LinuxBaseline:
    Type: AWS::SSM::PatchBaseline
    Properties:
      Name: !Sub fleetpatch-${Stage}-linux
      OperatingSystem: AMAZON_LINUX_2
      ApprovalRules:
        PatchRules:
          - ApproveAfterDays: !Ref ApprovalDays
            ComplianceLevel: CRITICAL
            PatchFilterGroup:
              PatchFilters: [{Key: CLASSIFICATION, Values: [Security]}]
      PatchGroups: !Ref PatchGroups
      Tags: [{Key: app, Value: fleetpatch}]

  HealthCheck:
    Type: AWS::SSM::Document
    Properties:
      DocumentType: Command
      Content:
        schemaVersion: "2.2"
        description: Is the application healthy?
        mainSteps:
          - action: aws:runShellScript
            name: CheckHealth
            inputs: {runCommand: [curl -fsS localhost/health]}
      Tags: [{Key: app, Value: fleetpatch}]

  Window:
    Type: AWS::SSM::MaintenanceWindow
    Properties:
      Name: !Sub fleetpatch-${Stage}-batch-1
      Schedule: cron(0 2 ? * SUN *)
      ScheduleTimezone: Europe/Berlin
      Duration: 3
      Cutoff: 1
      AllowUnassociatedTargets: false
  WindowTarget:
    Type: AWS::SSM::MaintenanceWindowTarget
    Properties:
      WindowId: !Ref Window
      ResourceType: INSTANCE
      Targets: [{Key: "tag:Patch Group", Values: [!Select [0, !Ref PatchGroups]]}]
  WindowTask:
    Type: AWS::SSM::MaintenanceWindowTask
    Properties:
      WindowId: !Ref Window
      TaskArn: AWS-RunPatchBaseline
      TaskType: RUN_COMMAND
      Priority: 1
      MaxConcurrency: 10%
      MaxErrors: "1"
      Targets: [{Key: WindowTargetIds, Values: [!Ref WindowTarget]}]
      LoggingInfo: {S3Bucket: !Ref ReportsBucket, S3Prefix: windows, Region: !Ref AWS::Region}
      TaskInvocationParameters:
        MaintenanceWindowRunCommandParameters:
          Parameters: {Operation: [Install], RebootOption: [RebootIfNeeded]}
          OutputS3BucketName: !Ref ReportsBucket

  EchoErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: !Ref EchoFunction}]
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
      AlarmActions: [!Ref ReportsTopic]

  Overview:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardName: !Sub ${AWS::StackName}-overview
      DashboardBody: !Sub '{"widgets": [{"type": "metric", "properties": {"region": "${AWS::Region}", "metrics": [["AWS/Lambda", "Errors", "FunctionName", "${EchoFunction}"]]}}]}'

  NightlyScan:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: cron(0 1 * * ? *)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !Ref Workflow, RoleArn: !GetAtt WorkflowRole.Arn}

  ProdOnlyQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd

  Policy:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: nested/policy.yaml
      Parameters: {Stage: !Ref Stage, Days: 3}

  PolicyConsumer:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !GetAtt Policy.Outputs.Launch

Outputs:
  ReportsTopicArn:
    Value: !Ref ReportsTopic
    Export: {Name: !Sub "${AWS::StackName}-reports"}
  WorkflowArn:
    Value: !GetAtt Workflow.Arn
  Bucket:
    Value: !Join ["/", [s3:/, !Ref ReportsBucket, !Select [1, !Split [",", "a,reports,b"]]]]
  ProdQueue:
    Condition: IsProd
    Value: !Ref ProdOnlyQueue
"""

NESTED = """
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Stage: {Type: String}
  Days: {Type: Number}
Resources:
  Baseline:
    Type: AWS::SSM::PatchBaseline
    Properties:
      Name: !Sub nested-${Stage}
      OperatingSystem: UBUNTU
      ApprovalRules:
        PatchRules:
          - PatchFilterGroup: {PatchFilters: [{Key: PRIORITY, Values: [Required]}]}
            ApproveAfterDays: !Ref Days
      PatchGroups: [nested-group]
Outputs:
  Launch:
    Value: !Sub '{"stage": "${Stage}", "baseline": "${Baseline}"}'
"""

WORKFLOW_ASL = """
QueryLanguage: JSONata
StartAt: Echo
States:
  Echo:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke
    Arguments:
      FunctionName: ${EchoFunctionArn}
      Payload: "{% $states.input %}"
    Output: "{% $states.result.Payload %}"
    Next: Report
  Report:
    Type: Task
    Resource: arn:aws:states:::sns:publish
    Arguments:
      TopicArn: ${ReportsTopicArn}
      Message: "{% $states.input.event %}"
      MessageAttributes:
        kind: {DataType: String, StringValue: report}
    End: true
"""


def write_app(root: Path, template: str = TEMPLATE, asl: str = WORKFLOW_ASL) -> Path:
    """A SAM app laid out as in the repository: template, functions, layer, state machine."""
    shutil.copytree(HANDLERS / "echo", root / "functions" / "echo")
    (root / "layers" / "domain").mkdir(parents=True)
    (root / "statemachines").mkdir()
    (root / "statemachines" / "workflow.asl.yaml").write_text(asl)
    (root / "nested").mkdir()
    (root / "nested" / "policy.yaml").write_text(NESTED)
    (root / "template.yaml").write_text(template)
    return root / "template.yaml"


@contextmanager
def deployed_app(root: Path) -> Iterator[tuple[LocalCloud, Stack]]:
    """The app written under ``root`` and deployed into a running cloud (with its SSM input)."""
    template = write_app(root)
    with LocalCloud() as cloud:
        cloud.client("ssm").put_parameter(
            Name="/fleetpatch/approve-after-days", Type="String", Value="7"
        )
        stack = cloud.deploy(template)
        yield cloud, stack
